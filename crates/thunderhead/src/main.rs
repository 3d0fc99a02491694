fn main() -> std::process::ExitCode {
    thunderhead::cli::main(std::env::args_os())
}

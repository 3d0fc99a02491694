use std::process::ExitCode;

use clap::Parser;
use thunderhead::cli::{run_user_command, Cli, Command};
use thunderhead::config::Config;
use thunderhead::server::{self, StartError};
use thunderhead::store;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match Config::resolve(&cli.settings) {
        Ok(config) => config,
        Err(message) => return fail(&StartError::Settings(message)),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return fail(&StartError::Runtime(err.into())),
    };
    let outcome = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => server::run(config).await,
            Command::Migrate => store::connect(&config.database_url, &config.pool)
                .await
                .map(|_| tracing::info!("database schema is up to date"))
                .map_err(StartError::Runtime),
            Command::User(command) => run_user_command(config, command).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

fn fail(err: &StartError) -> ExitCode {
    eprintln!("thunderhead: {err}");
    match err {
        StartError::Settings(_) => ExitCode::from(2),
        StartError::Runtime(_) => ExitCode::FAILURE,
    }
}

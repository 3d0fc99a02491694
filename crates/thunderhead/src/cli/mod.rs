//! The `thunderhead` command line.

mod import;
mod keys;
mod user;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat, Overrides};
use crate::server::{self, StartError};
use crate::store;

#[derive(Debug, Parser)]
#[command(
    name = "thunderhead",
    version,
    about = "Session-management server for the Cumulonimbus API"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Overrides,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Create or update the database schema, then exit.
    Migrate,
    /// Print the settings the other commands would run with, as a TOML file (the database
    /// password redacted), then exit.
    Config,
    /// Manage accounts directly in the database; works while a server is running.
    #[command(subcommand)]
    User(UserCommand),
    /// The signing keys every instance on this database uses.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Service clients, which may introspect tokens (`POST /api/introspect`).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Bring accounts, sessions and passwords across from another server.
    #[command(subcommand)]
    Import(ImportCommand),
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// From a live Cumulonimbus 3 database (read only; it is never written).
    Cumulonimbus {
        /// The original's database: postgres://USER@HOST/DB
        #[arg(long, value_name = "URL")]
        from: String,
        /// The original's signing key (its `certs/jwt.pem`), so the tokens it issued keep
        /// working: it becomes the key tokens without `kid` verify against.
        #[arg(long, value_name = "PATH")]
        key: Option<std::path::PathBuf>,
        /// Read and check everything, report what would happen, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Every key: its ID, when it was made and retired, which signs.
    List,
    /// Make a new signing key; older ones keep verifying until retired.
    Rotate,
    /// Retire a key: every token it signed is refused from then on.
    Retire { kid: String },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create a client; its secret is printed once, alone on standard output.
    Create { name: String },
    /// Every client and when it was made or revoked (never secrets).
    List,
    /// Revoke a client: its secret stops working at once.
    Revoke { name: String },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. The password is read from standard input's first line, or
    /// prompted for (unechoed) on a terminal.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        /// Make the account staff.
        #[arg(long)]
        staff: bool,
    },
    /// Make an account staff (or, with --off, not).
    Staff {
        name: String,
        #[arg(long)]
        off: bool,
    },
    /// Ban an account (or, with --off, lift the ban).
    Ban {
        name: String,
        #[arg(long)]
        off: bool,
    },
}

/// The whole program: parse `args`, run the command, map failures to exit codes (2 for bad
/// settings, 1 for failures at run time). Also what the benchmark runs as its server.
pub fn main<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = Cli::parse_from(args);
    // Settings first, so the log format is known; their errors go to standard error as
    // plain lines either way.
    let config = match Config::resolve(&cli.settings) {
        Ok(config) => config,
        Err(message) => return fail(&StartError::Settings(message)),
    };
    init_logging(config.log_format);
    warn_about_unknown_variables();
    if matches!(cli.command, Some(Command::Config)) {
        return match toml::to_string(&config.to_file()) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(err) => fail(&StartError::Runtime(err.into())),
        };
    }
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
                .map_err(|e| {
                    StartError::Runtime(
                        e.context(format!("cannot open database {}", config.database_url)),
                    )
                }),
            Command::Config => Ok(()),
            Command::User(command) => user::run(config, command).await,
            Command::Keys(command) => keys::run_keys(config, command).await,
            Command::Client(command) => keys::run_client(config, command).await,
            Command::Import(command) => import::run(config, command).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

/// Log lines go to standard error, written in place. A writer thread of its own
/// (tracing-appender) was tried to take the line off the request path and measured no better:
/// the cost is in formatting, not in the write (docs/performance.md). In JSON, each line
/// carries the fields of the request span it belongs to (method, route, request ID).
fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// A `THUNDERHEAD_*` variable no setting reads is most likely a typo that would otherwise do
/// nothing without a word.
fn warn_about_unknown_variables() {
    let command = <Cli as clap::CommandFactory>::command();
    let known: Vec<String> = command
        .get_arguments()
        .filter_map(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .collect();
    let present = std::env::vars_os().filter_map(|(name, _)| name.into_string().ok());
    for name in crate::config::unknown_variables(present, &known) {
        tracing::warn!(variable = %name, "unknown THUNDERHEAD_ variable ignored; see `thunderhead --help`");
    }
}

fn fail(err: &StartError) -> ExitCode {
    eprintln!("thunderhead: {err}");
    match err {
        StartError::Settings(_) => ExitCode::from(2),
        StartError::Runtime(_) => ExitCode::FAILURE,
    }
}

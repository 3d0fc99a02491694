//! The `thunderhead` command line.

mod user;

use clap::{Parser, Subcommand};

use crate::config::Overrides;

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
    /// Manage accounts directly in the database; works while a server is running.
    #[command(subcommand)]
    User(UserCommand),
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

pub use user::run as run_user_command;

//! Thunderhead: a session-management server speaking the Cumulonimbus v3 session API.
//!
//! - `http`: routes, the guard in front of them, error rendering, `serve`
//! - `service`: the rules of the contract, shared by HTTP and the CLI
//! - `domain`: IDs, tokens, passwords, validation: rules and types, no I/O
//! - `store`: the storage trait and its SQLite and PostgreSQL implementations
//! - `ratelimit`: fixed-window limits over pluggable counters
//! - `hashing`: Argon2id on dedicated threads behind a bounded queue
//! - `cumulonimbus`: the original server's database, read (never written) by the importer
//! - `config`, `cli`, `server`: settings, the command line, and start-up wiring

pub mod cli;
pub mod clock;
pub mod config;
pub mod cumulonimbus;
pub mod domain;
pub mod error;
pub mod hashing;
pub mod http;
pub mod key_file;
pub mod ratelimit;
pub mod server;
pub mod service;
pub mod store;

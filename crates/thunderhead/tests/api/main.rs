//! The one integration test binary: every test talks to a real server over real HTTP, on
//! SQLite, or on PostgreSQL when `TEST_DATABASE_URL` is set.

// A test that cannot go on should stop loudly.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod account;
mod bad_input;
mod cli;
mod concurrency;
mod connections;
mod contract_edges;
mod decisions;
mod forward_auth;
mod helpers;
mod import;
mod introspection;
mod keys;
mod limits_under_load;
mod login;
mod multi_instance;
mod nginx;
mod outage;
mod own_sessions;
mod process;
mod rate_limits;
mod sanity;
mod session_metadata;
mod settings;
mod staff_sessions;
mod store_story;
mod tokens;
mod users;

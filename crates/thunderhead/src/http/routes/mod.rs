//! One resource per file, each with its routes beside its handlers.

pub mod account;
pub mod health;
pub mod own_sessions;
pub mod sanity;
pub mod user_sessions;
pub mod users;
pub mod web;

use axum::http::HeaderMap;

use crate::domain::session_name::session_name;

/// The name a new session gets from the request that opens it.
fn session_name_from(headers: &HeaderMap) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let explicit = header("x-token-name")
        .filter(|v| !v.trim().is_empty())
        .or_else(|| header("x-session-name"));
    session_name(explicit, header("user-agent"))
}

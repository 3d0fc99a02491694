//! One resource per file, each with its routes beside its handlers.

pub mod account;
pub mod forward;
pub mod health;
pub mod introspect;
pub mod keys;
pub mod own_sessions;
pub mod sanity;
pub mod user_sessions;
pub mod users;
pub mod web;

use axum::http::HeaderMap;

use crate::domain::session_name::session_name;

/// The raw `User-Agent` of the request that opens a session (`Origin` trims it).
fn user_agent_from(headers: &HeaderMap) -> Option<String> {
    headers
        .get("user-agent")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// The name a new session gets from the request that opens it. Header bytes are read as
/// UTF-8 (a device may well be called "Łukasz's laptop"); control characters go later.
fn session_name_from(headers: &HeaderMap) -> String {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
    };
    let explicit = header("x-token-name")
        .filter(|v| !v.trim().is_empty())
        .or_else(|| header("x-session-name"));
    let user_agent = header("user-agent");
    session_name(explicit.as_deref(), user_agent.as_deref())
}

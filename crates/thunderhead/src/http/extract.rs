//! Extractors that never produce axum's own plain-text rejections: every failure is one of
//! the contract's errors.

use std::collections::HashMap;
use std::net::IpAddr;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use crate::domain::{SessionId, UserId};
use crate::error::ApiError;
use crate::service::Caller;

/// The client's address, as the guard resolved it (peer, or trusted proxies' forwarding).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("route is missing its guard")))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    /// Takes the caller the guard stored: each handler extracts it once, so it is moved out
    /// rather than copied on every authenticated request.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .remove::<Caller>()
            .ok_or(ApiError::InvalidToken)
    }
}

/// The path's parameters in order. Only `[0-9]+` is a user ID; anything else is no endpoint.
pub struct PathIds(Vec<String>);

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // A parameter that does not even decode (`%ff`) is no ID: read as empty, it is no
        // endpoint where a user ID belongs and no session where a session ID does.
        Ok(Path::<Vec<String>>::from_request_parts(parts, state)
            .await
            .map_or_else(|_| Self(Vec::new()), |Path(ids)| Self(ids)))
    }
}

impl PathIds {
    fn at(&self, index: usize) -> &str {
        self.0.get(index).map_or("", String::as_str)
    }

    pub fn user(&self, index: usize) -> Result<UserId, ApiError> {
        let text = self.at(index);
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::InvalidEndpoint);
        }
        // All digits but too large for an ID: no such user.
        UserId::parse(text).ok_or(ApiError::InvalidUser)
    }

    pub fn session(&self, index: usize) -> Result<SessionId, ApiError> {
        SessionId::parse(self.at(index)).ok_or(ApiError::SessionNotFound)
    }
}

/// The query string as a map; a malformed one is read as best it can be, never rejected.
pub struct QueryParams(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        Ok(Self(
            form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ))
    }
}

impl QueryParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn page(&self) -> crate::domain::Page {
        crate::domain::Page::from_query(self.get("limit"), self.get("offset"))
    }
}

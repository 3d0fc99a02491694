//! The one error type of the service layer. Each variant is one row of the contract's error
//! table; `http::error` is the only place that turns it into a status code and body.

use crate::ratelimit::Decision;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("missing permissions")]
    Permissions,
    #[error("invalid user")]
    InvalidUser,
    /// `DELETE /user` answers a username that is not the caller's with 401, not 404.
    #[error("invalid user (unauthenticated)")]
    InvalidUserUnauthorized,
    #[error("invalid password")]
    InvalidPassword,
    /// `repeatPassword` differs from `password`.
    #[error("passwords do not match")]
    PasswordMismatch,
    #[error("invalid session token")]
    InvalidToken,
    #[error("no such session")]
    SessionNotFound,
    #[error("invalid endpoint")]
    InvalidEndpoint,
    #[error("user exists")]
    UserExists,
    #[error("missing fields: {0:?}")]
    MissingFields(Vec<&'static str>),
    #[error("account banned")]
    Banned,
    #[error("body too large")]
    BodyTooLarge,
    #[error("rate limited")]
    RateLimited(Decision),
    /// Anything the caller cannot fix. The detail is logged, never sent.
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl ApiError {
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        match err {
            crate::store::StoreError::Conflict => Self::UserExists,
            other => Self::internal(other),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

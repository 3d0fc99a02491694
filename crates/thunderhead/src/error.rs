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
    /// A service client's credentials are missing or wrong (introspection).
    #[error("invalid client credentials")]
    ClientUnauthorized,
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
    /// Every hashing thread is busy and the queue is full: answered like a rate limit (429
    /// with Retry-After), because that is what the client should do about it.
    #[error("overloaded: password checks are queued to the limit")]
    Overloaded,
    /// The request's body was still arriving when the request timeout ran out.
    #[error("request body too slow")]
    RequestTimeout,
    /// Anything the caller cannot fix. The detail is logged, never sent.
    #[error("internal error: {}", Chain(.0))]
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

impl From<crate::ratelimit::Refused> for ApiError {
    fn from(refused: crate::ratelimit::Refused) -> Self {
        match refused {
            crate::ratelimit::Refused::Limited(decision) => Self::RateLimited(decision),
            crate::ratelimit::Refused::Failed(err) => Self::Internal(err),
        }
    }
}

impl From<crate::hashing::HashError> for ApiError {
    fn from(err: crate::hashing::HashError) -> Self {
        match err {
            crate::hashing::HashError::Overloaded => Self::Overloaded,
            crate::hashing::HashError::Failed(err) => Self::Internal(err),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// An error and its causes on one line. Most error types (sqlx's, ours through thiserror's
/// `{0}`) already print their source, so anyhow's `{:#}` would say each cause twice or more;
/// a cause whose text is already on the line is left out.
pub struct Chain<'a>(pub &'a anyhow::Error);

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut line = String::new();
        for cause in self.0.chain() {
            let text = cause.to_string();
            if line.contains(&text) {
                continue;
            }
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
        f.write_str(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::Chain;

    #[derive(Debug, thiserror::Error)]
    #[error("migration: {0}")]
    struct Outer(#[from] std::io::Error);

    #[test]
    fn a_cause_already_in_the_message_is_said_once() {
        let io = std::io::Error::other("table users already exists");
        let err = anyhow::Error::new(Outer::from(io)).context("cannot open database x.db");
        assert_eq!(
            Chain(&err).to_string(),
            "cannot open database x.db: migration: table users already exists"
        );
        let plain = anyhow::anyhow!("disk full").context("cannot write");
        assert_eq!(Chain(&plain).to_string(), "cannot write: disk full");
    }
}

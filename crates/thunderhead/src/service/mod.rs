//! The domain logic behind the HTTP handlers and the CLI. Handlers parse and render; every
//! rule of the contract (who may do what, in which order, with which error) lives here.

mod accounts;
mod auth;
mod sessions;

use std::sync::Arc;

use crate::clock::Clock;
use crate::domain::token::TokenKeys;
use crate::domain::{SessionRecord, UserId};
use crate::ratelimit::RateLimiter;
use crate::store::Store;

pub use accounts::{AccountEdit, Accounts, NewAccount};
pub use auth::{Credentials, Issued, Registration};
pub use sessions::MAX_BULK;

/// Session lifetimes, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    pub normal_s: i64,
    pub remembered_s: i64,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            normal_s: 24 * 60 * 60,
            // Ten years of 365.25 days, as the original server's tokens have it.
            remembered_s: 315_576_000,
        }
    }
}

/// The authenticated session making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub session: SessionRecord,
    pub staff: bool,
}

impl Caller {
    pub fn user(&self) -> UserId {
        self.session.user_id
    }
}

impl App {
    /// Whether the database answers a trivial query within `within`.
    pub async fn database_answers(&self, within: std::time::Duration) -> bool {
        matches!(
            tokio::time::timeout(within, self.store.ping()).await,
            Ok(Ok(()))
        )
    }
}

/// Everything a request may need, built once at start and shared.
pub struct App {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub accounts: Accounts,
    pub tokens: TokenKeys,
    pub limiter: RateLimiter,
    pub lifetimes: Lifetimes,
    /// Wakes the background pruner, e.g. after a revoke-all left rows to purge.
    pub housekeeping: Arc<tokio::sync::Notify>,
}

//! The one façade behind the HTTP handlers and the CLI: `App`, its methods organised by
//! resource (`accounts`, `sessions`, `auth` for signing in and passwords, `housekeeping`).
//! Handlers parse and render; every rule of the contract (who may do what, in which order,
//! with which error) lives here, so the CLI cannot skip one by calling a layer below.

mod accounts;
mod auth;
mod clients;
mod housekeeping;
mod import;
mod keys;
mod sessions;
mod usage;

use std::sync::Arc;

use crate::clock::Clock;
use crate::domain::token::{KeyPair, KeySet, Tokens};
use crate::domain::{SessionRecord, UserId};
use crate::error::{ApiError, ApiResult};
use crate::hashing::PasswordHasher;
use crate::ratelimit::{Class, Decision, RateLimiter};
use crate::store::Store;

pub use accounts::{AccountEdit, NewAccount};
pub use auth::{Admission, Credentials, Issued, Registration};
pub use clients::{valid_client_name, Introspection};
pub use keys::{KeyInfo, KeySetError, KEY_REFRESH};
pub use sessions::MAX_BULK;
pub use usage::FLUSH_EVERY as USAGE_FLUSH_EVERY;

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

/// Where a sign-in comes from: kept with the session it opens.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The client's address (trusted proxies honoured).
    pub ip: std::net::IpAddr,
    /// The raw `User-Agent`, control characters removed, at most 512 characters.
    pub user_agent: Option<String>,
}

impl Origin {
    pub const MAX_USER_AGENT: usize = 512;

    pub fn new(ip: std::net::IpAddr, user_agent: Option<&str>) -> Self {
        let user_agent = user_agent
            .map(|ua| {
                ua.chars()
                    .filter(|c| !c.is_control())
                    .take(Self::MAX_USER_AGENT)
                    .collect::<String>()
            })
            .filter(|ua| !ua.is_empty());
        Self { ip, user_agent }
    }
}

/// Session rules an operator may switch on (API.md 2.1); both off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session unused this long is dead.
    pub idle_timeout: Option<std::time::Duration>,
    /// A login beyond this many sessions ends the least recently used.
    pub max_sessions_per_user: Option<u32>,
}

/// The authenticated session making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub session: SessionRecord,
    pub staff: bool,
    pub username: String,
}

impl Caller {
    pub fn user(&self) -> UserId {
        self.session.user_id
    }
}

/// What `App` is built from.
pub struct Parts {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub hasher: PasswordHasher,
    /// The key file's key: the master of the key set (`keys`). `None` for commands that
    /// neither sign nor verify (`thunderhead user …`).
    pub master: Option<KeyPair>,
    pub limiter: RateLimiter,
    pub lifetimes: Lifetimes,
    pub policy: SessionPolicy,
}

/// Everything a request may need, built once at start and shared.
pub struct App {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    hasher: PasswordHasher,
    /// The key set in force; empty until `open_key_set`.
    tokens: Tokens,
    master: Option<keys::Master>,
    /// The key set's rows as last put in force, to tell when they change.
    keys_seen: std::sync::Mutex<Vec<crate::store::KeyRow>>,
    limiter: RateLimiter,
    lifetimes: Lifetimes,
    policy: SessionPolicy,
    /// Session uses not yet written (`usage`).
    usage: usage::Usage,
    /// Wakes the background housekeeping, e.g. after a revoke-all left rows to purge.
    housekeeping: Arc<tokio::sync::Notify>,
}

impl App {
    pub fn new(parts: Parts) -> Self {
        Self {
            store: parts.store,
            clock: parts.clock,
            hasher: parts.hasher,
            tokens: Tokens::new(KeySet::default()),
            master: parts.master.map(keys::Master::new),
            keys_seen: std::sync::Mutex::default(),
            limiter: parts.limiter,
            lifetimes: parts.lifetimes,
            policy: parts.policy,
            usage: usage::Usage::default(),
            housekeeping: Arc::default(),
        }
    }

    /// The façade for an operator's command at a terminal (`thunderhead user …`, a benchmark's
    /// seeding): the server's rules, one hashing thread, no rate limits (the operator is the
    /// one person here). `master` is the key file's key, for the commands that touch the key
    /// set; the others pass `None`.
    pub fn for_operator(
        store: Arc<dyn Store>,
        cost: crate::domain::password::HashCost,
        master: Option<KeyPair>,
    ) -> anyhow::Result<Self> {
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::SystemClock);
        let counters = Arc::new(crate::ratelimit::MemoryCounters::default());
        Ok(Self::new(Parts {
            store,
            hasher: PasswordHasher::new(cost, 1, 1)?,
            limiter: RateLimiter::new(
                counters.clone(),
                counters,
                clock.clone(),
                crate::ratelimit::RateLimits::OFF,
            ),
            clock,
            master,
            lifetimes: Lifetimes::default(),
            policy: SessionPolicy::default(),
        }))
    }

    /// The key set in force.
    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    /// The password hasher's counters and queue.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// Counts one request against the general limit of `key` (a user or an address); `None`
    /// when that limit is off.
    pub async fn count_request(&self, key: &str) -> ApiResult<Option<Decision>> {
        let decision = self
            .limiter
            .hit(Class::General, key)
            .await
            .map_err(ApiError::Internal)?;
        match decision {
            Some(decision) if !decision.allowed => Err(ApiError::RateLimited(decision)),
            other => Ok(other),
        }
    }

    /// Whether the database answers a trivial query within `within`.
    pub async fn database_answers(&self, within: std::time::Duration) -> bool {
        matches!(
            tokio::time::timeout(within, self.store.ping()).await,
            Ok(Ok(()))
        )
    }
}

//! Storage behind one trait. Both backends run the SQL in `sql.rs` through the one method set
//! in `imp.rs`. What differs per backend is connection set-up, migrations, and how the two hot
//! reads run: SQLite reads in place on read-only connections, PostgreSQL batches the
//! authentication and service-client lookups (`batch.rs`) and gives lists connections of their own.

mod batch;
pub(crate) mod imp;
mod postgres;
mod sql;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::import::ImportedAccount;
use crate::domain::{
    AuthRecord, BanChange, Listing, Page, SessionId, SessionRecord, UserId, UserRecord,
};

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique username or email is taken.
    #[error("unique constraint violated")]
    Conflict,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// One failed query answering several waiting lookups (PostgreSQL's batched
    /// authentication).
    #[error("database: {0}")]
    Shared(Arc<sqlx::Error>),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A new account; `username` is already normalised (lower case) by the service. Uniqueness of
/// the email is case-insensitive: the store keeps a lower-cased key beside it.
#[derive(Clone)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub staff: bool,
}

/// Fields to change on an account; `None` leaves a field as it is.
#[derive(Clone, Default)]
pub struct UserChanges {
    pub username: Option<String>,
    pub email: Option<String>,
    pub staff: Option<bool>,
    pub password: Option<PasswordChange>,
}

/// A new password hash. Changing a password ends every session but `keep`, in the same
/// transaction, so a crash cannot leave the old sessions alive behind the new password.
#[derive(Clone)]
pub struct PasswordChange {
    pub hash: String,
    pub keep: Option<SessionId>,
}

/// A session's last use, as noted in memory and written in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUse {
    pub user: UserId,
    pub id: SessionId,
    pub at_ms: i64,
    pub ip: String,
}

/// A session opened by a sign-in.
#[derive(Debug, Clone, Copy)]
pub struct NewLogin<'a> {
    pub now_ms: i64,
    pub lifetime_s: i64,
    pub name: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// With a cap on sessions per user: the least recently used beyond it end, in the same
    /// transaction as the login, so logins at once cannot leave more.
    pub keep_at_most: Option<u32>,
}

/// A session written as it is (an import, a benchmark's seed) rather than opened by a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub iat: i64,
    pub exp: i64,
    pub name: String,
}

/// What importing one account came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Written, with this many sessions.
    Added { sessions: u64 },
    /// Already here (a previous run): left as it is, but for this many sessions it did not have.
    Existing { sessions: u64 },
    /// Refused: the ID, username or email belongs to another account here.
    Conflict(&'static str),
}

/// A key of the key set as stored. `private_key` is sealed (`domain::sealing`); `Debug`
/// leaves it out all the same.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyRow {
    pub kid: String,
    /// SPKI PEM.
    pub public_key: String,
    pub private_key: String,
    /// Milliseconds since the UNIX epoch.
    pub created_at: i64,
    pub retired_at: Option<i64>,
    /// The key kid-less tokens verify against.
    pub legacy: bool,
}

impl std::fmt::Debug for KeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRow")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .field("legacy", &self.legacy)
            .finish_non_exhaustive()
    }
}

/// What retiring a key came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retirement {
    Retired(KeyRow),
    NoSuchKey,
    AlreadyRetired,
    /// It is the last live key: a set without one could sign nothing.
    LastKey,
}

/// A service client, without its secret's hash.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClientRow {
    pub name: String,
    /// Milliseconds since the UNIX epoch.
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A session to authenticate: its user, its ID, and the time it must still live at.
pub type SessionKey = (UserId, SessionId, i64);

/// What looking up one session of a user found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<T> {
    Found(T),
    /// The user exists; the session does not (or is expired or revoked).
    NoSession,
    NoUser,
}

impl<T> Lookup<T> {
    /// The value, if there was one.
    pub fn found(self) -> Option<T> {
        match self {
            Self::Found(value) => Some(value),
            Self::NoSession | Self::NoUser => None,
        }
    }
}

/// Where the data lives. Times are passed in: `now_ms` in milliseconds for account
/// timestamps, `now_s` in seconds for session expiry.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn create_user(&self, user: &NewUser, now_ms: i64) -> StoreResult<UserRecord>;
    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRecord>>;
    /// Looks up by the normalised (lower-case) username.
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    /// Newest first.
    async fn list_users(&self, page: Page) -> StoreResult<Listing<UserRecord>>;
    /// Accounts whose username or email contains `text` (any case), newest first; `count` is
    /// the number of matches.
    async fn search_users(&self, text: &str, page: Page) -> StoreResult<Listing<UserRecord>>;
    async fn update_user(
        &self,
        id: UserId,
        changes: &UserChanges,
        now_ms: i64,
    ) -> StoreResult<Option<UserRecord>>;
    /// Replaces a password hash by another of the same password (a rehash), only if the
    /// stored hash is still `old`; true when it was replaced. Sessions are untouched.
    async fn replace_password_hash(&self, id: UserId, old: &str, new: &str) -> StoreResult<bool>;
    async fn change_ban(
        &self,
        id: UserId,
        change: BanChange,
        now_ms: i64,
    ) -> StoreResult<Option<UserRecord>>;
    /// Deletes the account and, by cascade, its sessions.
    async fn delete_user(&self, id: UserId) -> StoreResult<Option<UserRecord>>;
    async fn delete_users(&self, ids: &[UserId]) -> StoreResult<u64>;

    /// Creates a session whose ID is unique for the user and never used before, even when
    /// many logins land in one second. `None` when the user does not exist.
    async fn create_session(
        &self,
        user: UserId,
        login: &NewLogin<'_>,
    ) -> StoreResult<Option<SessionRecord>>;
    /// The live session and its owner's standing, in one round trip.
    async fn authenticate(
        &self,
        user: UserId,
        id: SessionId,
        now_s: i64,
    ) -> StoreResult<Option<AuthRecord>>;
    async fn session(
        &self,
        user: UserId,
        id: SessionId,
        now_s: i64,
    ) -> StoreResult<Lookup<SessionRecord>>;
    /// Live sessions, newest first; `None` when the user does not exist.
    async fn list_sessions(
        &self,
        user: UserId,
        now_s: i64,
        page: Page,
    ) -> StoreResult<Option<Listing<SessionRecord>>>;
    async fn revoke_session(
        &self,
        user: UserId,
        id: SessionId,
        now_s: i64,
    ) -> StoreResult<Lookup<SessionRecord>>;
    /// Revokes the listed live sessions in one statement; returns how many went, or `None`
    /// when the user does not exist.
    async fn revoke_sessions(
        &self,
        user: UserId,
        ids: &[SessionId],
        now_s: i64,
    ) -> StoreResult<Option<u64>>;
    /// Revokes every session of the user but `keep` at once, by moving the user's revocation
    /// watermark (a constant number of statements); the rows are purged later. Returns how
    /// many live sessions were revoked, or `None` when the user does not exist.
    async fn revoke_all_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        now_s: i64,
    ) -> StoreResult<Option<u64>>;
    /// Writes sessions as given, keeping the invariants of `sql.rs` (the ID counter moves past
    /// them, the count includes them); IDs the user already has, or that are below their
    /// watermark, are skipped. Returns how many were written, or `None` without such a user.
    async fn insert_sessions(
        &self,
        user: UserId,
        sessions: &[NewSession],
    ) -> StoreResult<Option<u64>>;
    /// Writes the last uses of many sessions, keeping the later of the stored and the given
    /// use; sessions gone since are skipped. One statement per `USES_PER_STATEMENT` sessions;
    /// returns how many statements it took.
    async fn record_uses(&self, uses: &[SessionUse]) -> StoreResult<u64>;
    /// Whether a revoke-all still has rows waiting for `purge_revoked`.
    async fn purge_pending(&self) -> StoreResult<bool>;
    /// Deletes up to `batch` expired sessions of the user holding the oldest expired one,
    /// found by the expiry index; 0 when nothing has expired. Call until it returns 0.
    async fn prune_expired(&self, now_s: i64, batch: u32) -> StoreResult<u64>;
    /// Deletes up to `batch` rows of one user that a revoke-all left behind; `None` when no
    /// user has any left. Call until it returns `None`.
    async fn purge_revoked(&self, batch: u32) -> StoreResult<Option<u64>>;

    /// Takes one hit of a budget of `limit` from a rate-limit window shared by every instance
    /// on this database, atomically, and returns `(hits, reset_at_ms)`; a full window stays
    /// at `limit + 1` hits.
    async fn take_hit(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> StoreResult<(i64, i64)>;
    /// Gives back a hit taken from the window that ends at `reset_at_ms`, if it still runs.
    async fn give_back_hit(&self, key: &str, limit: u32, reset_at_ms: i64) -> StoreResult<()>;
    /// Records `value` under `name` if nothing is recorded there yet, and returns what is
    /// recorded now: the first writer's value, whoever that was.
    async fn claim_setting(&self, name: &str, value: &str) -> StoreResult<String>;

    /// Every key of the key set, oldest first.
    async fn signing_keys(&self) -> StoreResult<Vec<KeyRow>>;
    /// Adds a key unless one with its ID is there; true when added. A `legacy` key becomes
    /// the one kid-less tokens verify against (the previous one stops being it), whether it
    /// was added now or before.
    async fn add_signing_key(&self, key: &KeyRow) -> StoreResult<bool>;
    /// Retires a live key, unless it is the last one; see `sql.rs` for why two at once cannot
    /// retire the last two.
    async fn retire_signing_key(&self, kid: &str, now_ms: i64) -> StoreResult<Retirement>;
    /// Creates a client, or gives a revoked one of that name a new secret; false when a live
    /// client has the name.
    async fn create_client(&self, name: &str, secret_hash: &str, now_ms: i64) -> StoreResult<bool>;
    /// Every client, revoked ones included, by name.
    async fn list_clients(&self) -> StoreResult<Vec<ClientRow>>;
    /// Revokes a live client; `None` when there is no live client of that name.
    async fn revoke_client(&self, name: &str, now_ms: i64) -> StoreResult<Option<ClientRow>>;
    /// What an introspection needs, in one round trip: the secret's hash of the live client
    /// `client`, and, if the token named a session, what `authenticate` finds for it.
    async fn introspect(
        &self,
        client: &str,
        session: Option<SessionKey>,
    ) -> StoreResult<(Option<String>, Option<AuthRecord>)>;

    /// Makes every user ID handed out from now on greater than `above`, before an import
    /// writes IDs of its own (so no sign-up during the import can take one of them).
    async fn reserve_user_ids(&self, above: i64) -> StoreResult<()>;
    /// Writes imported accounts and their sessions in one transaction, keeping the session
    /// invariants of `sql.rs`; with `dry_run` the transaction is rolled back instead, so the
    /// outcomes are exact and nothing changes. An account already here (same ID and username)
    /// is left alone but for sessions it does not have.
    async fn import_accounts(
        &self,
        accounts: &[ImportedAccount],
        dry_run: bool,
    ) -> StoreResult<Vec<ImportOutcome>>;

    /// Gathers the planner's statistics after a bulk load (an import).
    async fn refresh_statistics(&self) -> StoreResult<()>;

    /// Answers when the database does; for readiness probes.
    async fn ping(&self) -> StoreResult<()>;
    /// Forgets rate-limit windows that have ended.
    async fn prune_rate_limits(&self, now_ms: i64) -> StoreResult<u64>;
}

/// Connection settings shared by both backends.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Which backend a database URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, String> {
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
        match scheme {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            "" => Err(format!("database URL {:?} has no scheme; use sqlite://PATH or postgres://HOST/DB", redact_url(url))),
            other => Err(format!(
                "database URL scheme {other:?} is not supported; use sqlite://PATH or postgres://HOST/DB"
            )),
        }
    }
}

/// Opens the database the URL names and brings its schema up to date.
pub async fn connect(url: &DatabaseUrl, pool: &PoolSettings) -> anyhow::Result<Arc<dyn Store>> {
    let backend = Backend::from_url(url.expose()).map_err(anyhow::Error::msg)?;
    let url = url.expose();
    Ok(match backend {
        Backend::Sqlite => Arc::new(SqliteStore::connect(url, pool).await?),
        Backend::Postgres => Arc::new(PostgresStore::connect(url, pool).await?),
    })
}

/// A database URL. It may carry a password (`postgres://u:PASS@h/db`, `?password=PASS`), so
/// `Debug` and `Display` show it redacted; only `expose` gives the real text, for connecting.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL with its password, for opening the connection and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// Hides the password in a database URL so it can be logged: the userinfo's and any
/// `password=` query parameter's.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let (authority, path) =
        before_query.split_at(before_query.find('/').unwrap_or(before_query.len()));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{user}:***@{host}")
            } else {
                format!("{user}@{host}")
            }
        }
        None => authority.to_owned(),
    };
    let query = query.map(|query| {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        format!("?{}", pairs.join("&"))
    });
    format!("{scheme}://{authority}{path}{}", query.unwrap_or_default())
}

fn map_unique(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => StoreError::Database(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_select_backends() {
        assert_eq!(Backend::from_url("sqlite://x.db"), Ok(Backend::Sqlite));
        assert_eq!(Backend::from_url("sqlite::memory:"), Ok(Backend::Sqlite));
        assert_eq!(Backend::from_url("postgres://h/db"), Ok(Backend::Postgres));
        assert_eq!(
            Backend::from_url("postgresql://h/db"),
            Ok(Backend::Postgres)
        );
        assert!(Backend::from_url("mysql://h/db").is_err());
        assert!(Backend::from_url("thunderhead.db").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://t.db"), "sqlite://t.db");
        assert_eq!(
            redact_url("postgres://h/db?user=u&password=secret&sslmode=require"),
            "postgres://h/db?user=u&password=***&sslmode=require"
        );
        let url = DatabaseUrl::new("postgres://u:secret@h/db?PASSWORD=other");
        for shown in [url.to_string(), format!("{url:?}")] {
            assert!(
                !shown.contains("secret") && !shown.contains("other"),
                "{shown}"
            );
        }
    }
}

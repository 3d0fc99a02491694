//! PostgreSQL: for several instances on one database. Migrations take sqlx's advisory lock,
//! so instances starting together apply them once.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use super::batch::{AuthLookups, Batcher, IntrospectLookups};
use super::imp::{impl_store, StoreHooks};
use super::{PoolSettings, StoreResult};
use crate::domain::{AuthRecord, Listing, Page, SessionId, SessionRecord, UserId};

pub struct PostgresStore {
    pool: PgPool,
    /// Connections for session lists only, with one generic plan per statement.
    reads: PgPool,
    auth: Batcher<AuthLookups>,
    introspections: Batcher<IntrospectLookups>,
}

impl PostgresStore {
    pub async fn connect(url: &str, settings: &PoolSettings) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        Self::connect_with(options, settings).await
    }

    pub async fn connect_with(
        options: PgConnectOptions,
        settings: &PoolSettings,
    ) -> StoreResult<Self> {
        let (general, lists) = split_connections(settings.max_connections);
        let pool = pool_options(general, settings)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        // PostgreSQL re-plans a prepared statement on every execution for as long as it judges
        // a custom plan cheaper than the generic one, and for the session list it always did:
        // 0.2-0.7 ms of planning against 0.07 ms of execution. The hot reads are keyed by
        // primary key or by user, so the value-blind generic plan is the same plan; they get
        // connections that always use it. Other statements keep custom plans: the purge's
        // generic plan, for one, is a sequential scan.
        let generic = options.options([("plan_cache_mode", "force_generic_plan")]);
        let reads = pool_options(lists, settings)
            .connect_with(generic.clone())
            .await?;
        let auth = Batcher::start(generic.clone(), settings.acquire_timeout);
        let introspections = Batcher::start(generic, settings.acquire_timeout);
        Ok(Self {
            pool,
            reads,
            auth,
            introspections,
        })
    }
}

#[async_trait::async_trait]
impl StoreHooks for PostgresStore {
    type Db = sqlx::Postgres;

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Writers run concurrently; row locks order them where it matters.
    async fn writer(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        None
    }

    /// Batched with the lookups arriving beside it.
    async fn authenticate_row(
        &self,
        user: UserId,
        id: SessionId,
        now_s: i64,
    ) -> StoreResult<Option<AuthRecord>> {
        self.auth.lookup((user, id, now_s)).await
    }

    /// The client and the session in one query, batched with the introspections arriving
    /// beside it: one round trip shared, as for authentication.
    async fn introspect_row(
        &self,
        client: &str,
        session: Option<super::SessionKey>,
    ) -> StoreResult<(Option<String>, Option<AuthRecord>)> {
        Ok(self
            .introspections
            .lookup((client.to_owned(), session))
            .await?
            .unwrap_or_default())
    }

    fn reserve_user_ids_statements(&self) -> &'static [&'static str] {
        &super::sql::RESERVE_USER_IDS_POSTGRES
    }

    /// `%text%`, with LIKE's `%`, `_` and the escape itself escaped.
    fn search_users_sql(&self, text: &str) -> (&'static [&'static str; 2], String) {
        let mut pattern = String::with_capacity(text.len() + 2);
        pattern.push('%');
        for c in text.chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        (&super::sql::SEARCH_USERS_POSTGRES, pattern)
    }

    /// On the list connections, with their generic plans.
    async fn list_rows(
        &self,
        user: UserId,
        now_s: i64,
        page: Page,
    ) -> StoreResult<Option<Listing<SessionRecord>>> {
        Self::list_rows_pooled(&self.reads, user, now_s, page).await
    }
}

/// `max_connections` split three ways: one connection for the batched authentication lookups
/// (and one more for the service-client lookups, idle until introspection is used),
/// a quarter (one at least, four at most) for session lists, the rest for everything else. Three
/// is the least this store opens.
fn split_connections(max_connections: u32) -> (u32, u32) {
    let lists = (max_connections / 4).clamp(1, 4);
    let general = max_connections.saturating_sub(lists + 1).max(1);
    (general, lists)
}

/// How long a connection may sit unused before it is closed. NAT gateways and firewalls drop
/// idle connections without a word (AWS's NAT gateway after 350 s); a query on such a
/// connection hangs, and sqlx's ping when it is handed back holds its pool slot until TCP gives
/// up, about 15 minutes. Closing connections idle for a minute keeps them from getting that old.
pub(super) const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

fn pool_options(max_connections: u32, settings: &PoolSettings) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .idle_timeout(IDLE_TIMEOUT)
        // A ping before every query is a round trip per request; a broken connection fails its
        // query instead (answered 500) and is replaced.
        .test_before_acquire(false)
}

impl_store!(PostgresStore, sqlx::Postgres);

#[cfg(test)]
mod tests {
    use super::split_connections;

    #[test]
    fn connections_are_split_without_exceeding_the_setting_from_three_up() {
        // (general, lists); authentication has one more of its own.
        assert_eq!(split_connections(8), (5, 2));
        assert_eq!(split_connections(32), (27, 4));
        assert_eq!(split_connections(3), (1, 1));
        assert_eq!(split_connections(1), (1, 1));
        assert_eq!(split_connections(0), (1, 1));
    }
}

//! PostgreSQL: for several instances on one database. Migrations take sqlx's advisory lock,
//! so instances starting together apply them once.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use super::auth_batch::AuthBatcher;
use super::{imp::impl_store, PoolSettings, StoreResult};

pub struct PostgresStore {
    pool: PgPool,
    auth: AuthBatcher,
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
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            // A ping before every query is a round trip per request; a broken connection
            // fails its query instead (answered 500) and is replaced.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let auth = AuthBatcher::start(pool.clone(), settings.acquire_timeout);
        Ok(Self { pool, auth })
    }

    /// The lookup every authenticated request makes, batched with those arriving beside it.
    async fn authenticate_row(
        &self,
        user: crate::domain::UserId,
        id: crate::domain::SessionId,
        now_s: i64,
    ) -> StoreResult<Option<crate::domain::AuthRecord>> {
        self.auth.authenticate(user, id, now_s).await
    }

    async fn list_rows(
        &self,
        user: crate::domain::UserId,
        now_s: i64,
        page: crate::domain::Page,
    ) -> StoreResult<crate::domain::Listing<crate::domain::SessionRecord>> {
        self.list_rows_pooled(user, now_s, page).await
    }

    /// Writers run concurrently; row locks order them where it matters.
    async fn writer(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        None
    }
}

impl_store!(PostgresStore, sqlx::Postgres);

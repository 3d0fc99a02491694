//! SQLite: the embedded default. WAL so readers never wait for the writer, a busy timeout so
//! a CLI command and a running server can share the file, FULL sync so a commit survives a crash.

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::{imp::impl_store, PoolSettings, StoreResult};

pub struct SqliteStore {
    pool: SqlitePool,
    /// SQLite has one writer at a time. Queueing writers here, in order, beats letting them
    /// collide in SQLite's busy handler, which sleeps in steps of up to 100 ms.
    write_queue: tokio::sync::Mutex<()>,
}

impl SqliteStore {
    pub async fn connect(url: &str, settings: &PoolSettings) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            // A ping before every query is a round trip per request; a broken connection
            // fails its query instead (answered 500) and is replaced.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self {
            pool,
            write_queue: tokio::sync::Mutex::new(()),
        })
    }

    async fn writer(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        Some(self.write_queue.lock().await)
    }
}

impl_store!(SqliteStore, sqlx::Sqlite);

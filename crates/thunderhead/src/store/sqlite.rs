//! SQLite: the embedded default. WAL so readers never wait for the writer, a busy timeout so
//! a CLI command and a running server can share the file, FULL sync so a commit survives a crash.

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::imp::{impl_store, StoreHooks};
use super::{PoolSettings, StoreResult};

pub struct SqliteStore {
    pool: SqlitePool,
    /// Read-only connections for the one lookup every authenticated request makes, run in
    /// place: sqlx hands each query to a per-connection thread and back, which cost more than
    /// the primary-key lookup itself. `None` for in-memory databases.
    lookups: Option<Lookups>,
    /// SQLite has one writer at a time. Queueing writers here, in order, beats letting them
    /// collide in SQLite's busy handler, which sleeps in steps of up to 100 ms.
    write_queue: tokio::sync::Mutex<()>,
}

/// sqlx's SQLite migrator takes no lock, so two processes opening a brand-new file at once (a
/// server and `thunderhead migrate`, say) would both apply migration 1 and one would fail. One
/// `BEGIN IMMEDIATE` around the whole run makes the second wait for the first, within the busy
/// timeout, and then find nothing left to do.
async fn migrate(pool: &sqlx::SqlitePool) -> StoreResult<()> {
    use sqlx::Connection as _;
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    sqlx::migrate!("./migrations/sqlite").run(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Opens the pool. Switching a brand-new file to WAL takes an exclusive lock that SQLite's busy
/// timeout does not wait for, so processes opening a new file together can get `SQLITE_BUSY`
/// at once; that, and only that, is retried for up to the busy timeout.
async fn open_pool(
    options: &SqliteConnectOptions,
    settings: &PoolSettings,
) -> StoreResult<SqlitePool> {
    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);
    let started = std::time::Instant::now();
    loop {
        let opened = SqlitePoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(settings.acquire_timeout)
            // A ping before every query is a round trip per request; a broken connection
            // fails its query instead (answered 500) and is replaced.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await;
        match opened {
            Err(sqlx::Error::Database(err))
                if err.code().as_deref() == Some("5") && started.elapsed() < PATIENCE =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            other => return Ok(other?),
        }
    }
}

impl SqliteStore {
    pub async fn connect(url: &str, settings: &PoolSettings) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(5))
            .foreign_keys(true);
        let pool = open_pool(&options, settings).await?;
        migrate(&pool).await?;
        let lookups = Lookups::open(&options, settings.max_connections.clamp(1, 4));
        Ok(Self {
            pool,
            lookups,
            write_queue: tokio::sync::Mutex::new(()),
        })
    }
}

#[async_trait::async_trait]
impl StoreHooks for SqliteStore {
    type Db = sqlx::Sqlite;

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn writer(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        Some(self.write_queue.lock().await)
    }

    /// In place on a read-only connection, or through the pool if that fails for any reason.
    async fn authenticate_row(
        &self,
        user: crate::domain::UserId,
        id: crate::domain::SessionId,
        now_s: i64,
    ) -> StoreResult<Option<crate::domain::AuthRecord>> {
        let in_place = self
            .lookups
            .as_ref()
            .and_then(|lookups| lookups.run(|conn| auth_record_in(conn, user, id, now_s)));
        if let Some(found) = in_place {
            return Ok(found);
        }
        Ok(sqlx::query_as(super::sql::AUTHENTICATE)
            .bind(user.0)
            .bind(id.0)
            .bind(now_s)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// Both lookups in place, on one read-only connection taken once.
    async fn introspect_row(
        &self,
        client: &str,
        session: Option<super::SessionKey>,
    ) -> StoreResult<(Option<String>, Option<crate::domain::AuthRecord>)> {
        let in_place = self.lookups.as_ref().and_then(|lookups| {
            lookups.run(|conn| {
                let mut statement = conn.prepare_cached(super::sql::CLIENT_SECRET_HASH)?;
                let mut rows = statement.query(numbered(&[&client]).as_slice())?;
                let secret: Option<String> = rows.next()?.map(|row| row.get(0)).transpose()?;
                let record = match session {
                    Some((user, id, now_s)) => auth_record_in(conn, user, id, now_s)?,
                    None => None,
                };
                Ok((secret, record))
            })
        });
        if let Some(found) = in_place {
            return Ok(found);
        }
        let secret = sqlx::query_scalar(super::sql::CLIENT_SECRET_HASH)
            .bind(client)
            .fetch_optional(&self.pool)
            .await?;
        let record = match session {
            Some((user, id, now_s)) => self.authenticate_row(user, id, now_s).await?,
            None => None,
        };
        Ok((secret, record))
    }

    fn reserve_user_ids_statements(&self) -> &'static [&'static str] {
        &super::sql::RESERVE_USER_IDS_SQLITE
    }

    /// Trigrams need three characters; shorter text is looked for by a scan.
    fn search_users_sql(&self, text: &str) -> (&'static [&'static str; 2], String) {
        if text.chars().count() >= 3 {
            (
                &super::sql::SEARCH_USERS_INDEXED_SQLITE,
                format!("\"{}\"", text.replace('"', "\"\"")),
            )
        } else {
            (&super::sql::SEARCH_USERS_SCAN_SQLITE, text.to_owned())
        }
    }

    /// Read in place when possible.
    async fn list_rows(
        &self,
        user: crate::domain::UserId,
        now_s: i64,
        page: crate::domain::Page,
    ) -> StoreResult<Option<crate::domain::Listing<crate::domain::SessionRecord>>> {
        let in_place = self.lookups.as_ref().and_then(|lookups| {
            lookups.run(|conn| {
                let count: Option<i64> = conn
                    .prepare_cached(super::sql::COUNT_SESSIONS)?
                    .query_row(numbered(&[&user.0, &now_s]).as_slice(), |row| row.get(0))
                    .map(Some)
                    .or_else(|err| match err {
                        rusqlite::Error::QueryReturnedNoRows => Ok(None),
                        other => Err(other),
                    })?;
                let mut statement = conn.prepare_cached(super::sql::LIST_SESSIONS)?;
                let items = statement
                    .query_map(
                        numbered(&[
                            &user.0,
                            &now_s,
                            &i64::from(page.limit),
                            &(page.offset as i64),
                        ])
                        .as_slice(),
                        session_from,
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                // No count row: no such user.
                Ok(count.map(|count| crate::domain::Listing {
                    count: count.max(0) as u64,
                    items,
                }))
            })
        });
        match in_place {
            Some(listing) => Ok(listing),
            None => Self::list_rows_pooled(&self.pool, user, now_s, page).await,
        }
    }
}

/// `sql::AUTHENTICATE` on a read-only connection.
fn auth_record_in(
    conn: &rusqlite::Connection,
    user: crate::domain::UserId,
    id: crate::domain::SessionId,
    now_s: i64,
) -> rusqlite::Result<Option<crate::domain::AuthRecord>> {
    let mut statement = conn.prepare_cached(super::sql::AUTHENTICATE)?;
    let mut rows = statement.query(numbered(&[&user.0, &id.0, &now_s]).as_slice())?;
    rows.next()?
        .map(|row| {
            Ok(crate::domain::AuthRecord {
                session: session_from(row)?,
                staff: row.get(AFTER_SESSION)?,
                banned_at: row.get(AFTER_SESSION + 1)?,
                username: row.get(AFTER_SESSION + 2)?,
            })
        })
        .transpose()
}

/// Binds values to `$1`, `$2`, ... by name. SQLite numbers `$`-named parameters by first
/// appearance, and the shared statements do not always mention `$1` first.
fn numbered<'a>(
    values: &[&'a dyn rusqlite::ToSql],
) -> Vec<(&'static str, &'a dyn rusqlite::ToSql)> {
    const NAMES: [&str; 8] = ["$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8"];
    NAMES.iter().copied().zip(values.iter().copied()).collect()
}

/// The columns of `session_columns!`, in its order.
fn session_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<crate::domain::SessionRecord> {
    Ok(crate::domain::SessionRecord {
        user_id: crate::domain::UserId(row.get(0)?),
        id: crate::domain::SessionId(row.get(1)?),
        exp: row.get(2)?,
        name: row.get(3)?,
        created_at: row.get(4)?,
        used_at: row.get(5)?,
        ip: row.get(6)?,
        last_ip: row.get(7)?,
        user_agent: row.get(8)?,
    })
}

/// Where `session_columns!` ends in a row of `sql::AUTHENTICATE`.
const AFTER_SESSION: usize = 9;

/// A few read-only connections, each behind its own lock. A primary-key lookup from SQLite's
/// page cache takes microseconds, and WAL readers never wait for the writer, so running it on
/// the async worker blocks nothing for long.
struct Lookups {
    connections: Vec<std::sync::Mutex<rusqlite::Connection>>,
    next: std::sync::atomic::AtomicUsize,
}

impl Lookups {
    fn open(options: &SqliteConnectOptions, count: u32) -> Option<Self> {
        let path = options.get_filename();
        if path.as_os_str().is_empty() || path.to_string_lossy().contains(":memory:") {
            return None;
        }
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut connections = Vec::new();
        for _ in 0..count {
            match rusqlite::Connection::open_with_flags(path, flags) {
                Ok(conn) => {
                    let _ = conn.busy_timeout(std::time::Duration::from_millis(250));
                    connections.push(std::sync::Mutex::new(conn));
                }
                Err(err) => {
                    tracing::warn!(error = %err, "read-only SQLite connections unavailable; using the pool");
                    return None;
                }
            }
        }
        Some(Self {
            connections,
            next: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Runs `query` on a free read-only connection; `None` if it could not be run here (the
    /// caller then uses the pool).
    fn run<T>(
        &self,
        query: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Option<T> {
        let start = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let n = self.connections.len();
        // Any free connection will do; if all are busy, wait for the next in turn.
        let guard = (0..n)
            .find_map(|i| self.connections[(start + i) % n].try_lock().ok())
            .or_else(|| self.connections[start % n].lock().ok())?;
        match query(&guard) {
            Ok(found) => Some(found),
            Err(err) => {
                tracing::debug!(error = %err, "in-place read failed; using the pool");
                None
            }
        }
    }
}

impl_store!(SqliteStore, sqlx::Sqlite);

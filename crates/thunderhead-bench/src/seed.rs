//! Test data straight into the database: accounts through the service layer (real Argon2
//! hashes), and many sessions at once through bulk inserts.

use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use thunderhead::clock::SystemClock;
use thunderhead::domain::password::{HashCost, PasswordHasher};
use thunderhead::domain::UserId;
use thunderhead::service::{Accounts, NewAccount};
use thunderhead::store::{self, Backend, PoolSettings};

pub const PASSWORD: &str = "bench-password";

/// Whether any revoke-all still has rows waiting for the background purge.
pub async fn purge_pending(db: &Db) -> anyhow::Result<bool> {
    let query = "SELECT COUNT(*) FROM users WHERE purge_pending";
    let pending: i64 = match db {
        Db::Sqlite(pool) => sqlx::query_scalar(query).fetch_one(pool).await?,
        Db::Postgres(pool) => sqlx::query_scalar(query).fetch_one(pool).await?,
    };
    Ok(pending > 0)
}

pub enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// Inserts rows in batches of this many per statement, all in one transaction.
const BATCH: usize = 1000;

macro_rules! insert_sessions {
    ($pool:expr, $user:expr, $first_iat:expr, $count:expr, $exp:expr) => {{
        let mut tx = $pool.begin().await?;
        let mut done = 0usize;
        while done < $count {
            let n = BATCH.min($count - done);
            let mut sql = String::from("INSERT INTO sessions (user_id, iat, exp, name) VALUES ");
            for i in 0..n {
                let p = i * 3;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!("(${}, ${}, ${}, 'seeded')", p + 1, p + 2, p + 3));
            }
            let mut query = sqlx::query(&sql);
            for i in 0..n {
                query = query.bind($user).bind($first_iat + (done + i) as i64).bind($exp);
            }
            query.execute(&mut *tx).await?;
            done += n;
        }
        let last = $first_iat + $count as i64 - 1;
        // Keep the store's invariants: the ID counter and the per-user session count.
        sqlx::query("UPDATE users SET last_session_iat = CASE WHEN last_session_iat > $2 THEN last_session_iat ELSE $2 END, session_count = session_count + $3 WHERE id = $1")
            .bind($user)
            .bind(last)
            .bind($count as i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }};
}

impl Db {
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        Ok(match Backend::from_url(url).map_err(anyhow::Error::msg)? {
            Backend::Sqlite => Self::Sqlite(
                sqlx::SqlitePool::connect_with(SqliteConnectOptions::from_str(url)?).await?,
            ),
            Backend::Postgres => Self::Postgres(
                PgPoolOptions::new()
                    .max_connections(2)
                    .connect_with(PgConnectOptions::from_str(url)?)
                    .await?,
            ),
        })
    }

    /// Gives `user` `count` live sessions with IDs `first_iat..first_iat+count`.
    pub async fn add_sessions(
        &self,
        user: UserId,
        first_iat: i64,
        count: usize,
        exp: i64,
    ) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(pool) => insert_sessions!(pool, user.0, first_iat, count, exp),
            Self::Postgres(pool) => {
                insert_sessions!(pool, user.0, first_iat, count, exp);
                // PostgreSQL plans by statistics, which autovacuum keeps on a live database; a
                // bulk load followed at once by queries must gather them itself.
                sqlx::query("ANALYZE sessions").execute(pool).await?;
            }
        }
        Ok(())
    }
}

/// Creates the schema and the accounts the scenarios use.
pub async fn accounts(url: &str, cost: HashCost) -> anyhow::Result<Vec<UserId>> {
    let store = store::connect(
        &thunderhead::store::DatabaseUrl::new(url),
        &PoolSettings::default(),
    )
    .await?;
    let accounts = Accounts::new(
        store,
        Arc::new(SystemClock),
        PasswordHasher::new(cost, 1, 1)?,
    );
    let mut ids = Vec::new();
    for (name, staff) in [
        ("staff", true),
        ("one", false),
        ("many", false),
        ("login", false),
        ("fifty", false),
    ] {
        let user = accounts
            .create(NewAccount {
                username: name.into(),
                email: format!("{name}@bench.invalid"),
                password: PASSWORD.into(),
                staff,
            })
            .await
            .map_err(|e| anyhow::anyhow!("creating {name}: {e}"))?;
        ids.push(user.id);
    }
    Ok(ids)
}

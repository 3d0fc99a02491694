//! The original Cumulonimbus 3 database, read and never written: one `REPEATABLE READ READ
//! ONLY` transaction (PostgreSQL itself refuses any write in it, and every batch sees the same
//! snapshot), and a cursor, so the accounts stream in batches and memory stays flat however
//! many there are.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, Row};

use crate::domain::import::SourceRow;

pub struct Source {
    conn: PgConnection,
}

/// What the source holds, before reading it.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub accounts: u64,
    /// The highest numeric ID, which new accounts must be numbered after.
    pub highest_id: Option<i64>,
}

const DECLARE: &str = r#"DECLARE thunderhead_import NO SCROLL CURSOR FOR
SELECT id::text, COALESCE(username::text, ''), COALESCE(email::text, ''),
       COALESCE(staff, FALSE), COALESCE(password::text, ''), COALESCE(domain::text, ''),
       subdomain::text,
       (EXTRACT(EPOCH FROM "bannedAt") * 1000)::BIGINT,
       to_json(sessions)::text,
       COALESCE((EXTRACT(EPOCH FROM "createdAt") * 1000)::BIGINT, 0),
       COALESCE((EXTRACT(EPOCH FROM "updatedAt") * 1000)::BIGINT, 0)
FROM "Users" ORDER BY id"#;

impl Source {
    /// Connects and opens the read-only snapshot.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url)?.application_name("thunderhead-import");
        let mut conn = options.connect().await?;
        sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut conn)
            .await?;
        Ok(Self { conn })
    }

    pub async fn summary(&mut self) -> anyhow::Result<Summary> {
        let accounts: i64 = sqlx::query_scalar(r#"SELECT COUNT(*) FROM "Users""#)
            .fetch_one(&mut self.conn)
            .await?;
        let highest_id: Option<i64> = sqlx::query_scalar(
            r#"SELECT MAX(id::NUMERIC)::BIGINT FROM "Users" WHERE id ~ '^[0-9]{1,18}$'"#,
        )
        .fetch_one(&mut self.conn)
        .await?;
        sqlx::query(DECLARE).execute(&mut self.conn).await?;
        Ok(Summary {
            accounts: accounts.max(0) as u64,
            highest_id,
        })
    }

    /// The next `size` rows; empty at the end.
    pub async fn next_batch(&mut self, size: u32) -> anyhow::Result<Vec<SourceRow>> {
        let rows = sqlx::query(&format!("FETCH {size} FROM thunderhead_import"))
            .fetch_all(&mut self.conn)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(SourceRow {
                    id: row.try_get::<Option<String>, _>(0)?.unwrap_or_default(),
                    username: row.try_get(1)?,
                    email: row.try_get(2)?,
                    staff: row.try_get(3)?,
                    password: row.try_get(4)?,
                    domain: row.try_get(5)?,
                    subdomain: row.try_get(6)?,
                    banned_at: row.try_get(7)?,
                    sessions: row.try_get(8)?,
                    created_at: row.try_get(9)?,
                    updated_at: row.try_get(10)?,
                })
            })
            .collect()
    }

    /// Ends the snapshot; nothing was written, so there is nothing to keep.
    pub async fn close(mut self) -> anyhow::Result<()> {
        sqlx::query("ROLLBACK").execute(&mut self.conn).await?;
        self.conn.close().await?;
        Ok(())
    }
}

//! Test data through the server's own layers: accounts through the service (real Argon2
//! hashes), many sessions at once through the store's bulk insert, which keeps the store's
//! invariants (the ID counter, the session count) as every other write does.

use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use thunderhead::domain::password::HashCost;
use thunderhead::domain::UserId;
use thunderhead::service::{App, NewAccount};
use thunderhead::store::{self, Backend, DatabaseUrl, NewSession, PoolSettings, Store};

pub const PASSWORD: &str = "bench-password";

/// PostgreSQL administration the store does not do: schemas, and statistics after a bulk load.
pub struct Admin(pub sqlx::PgPool);

impl Admin {
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        Ok(Self(
            PgPoolOptions::new()
                .max_connections(2)
                .connect_with(PgConnectOptions::from_str(url)?)
                .await?,
        ))
    }
}

pub struct Seeder {
    store: Arc<dyn Store>,
    /// Only on PostgreSQL, where a bulk load must gather its own statistics.
    admin: Option<Admin>,
}

impl Seeder {
    /// Opens the database (creating the schema) the server will use.
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        let store = store::connect(&DatabaseUrl::new(url), &PoolSettings::default()).await?;
        let admin = match Backend::from_url(url).map_err(anyhow::Error::msg)? {
            Backend::Postgres => Some(Admin::open(url).await?),
            Backend::Sqlite => None,
        };
        Ok(Self { store, admin })
    }

    /// The accounts the scenarios use, through the service layer.
    pub async fn accounts(&self, cost: HashCost) -> anyhow::Result<Vec<UserId>> {
        let app = App::for_operator(self.store.clone(), cost, None)?;
        let mut ids = Vec::new();
        for (name, staff) in [
            ("staff", true),
            ("one", false),
            ("many", false),
            ("login", false),
            ("fifty", false),
        ] {
            let user = app
                .create_account(NewAccount {
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

    /// A service client for the introspection scenario; its secret.
    pub async fn client(&self, name: &str) -> anyhow::Result<String> {
        let app = App::for_operator(self.store.clone(), HashCost::default(), None)?;
        app.create_client(name)
            .await
            .map_err(|e| anyhow::anyhow!("creating client {name}: {e}"))?
            .ok_or_else(|| anyhow::anyhow!("client {name} exists"))
    }

    /// `count` more accounts (`member0`, `member1`, …), written as an import writes them (a
    /// fixed bcrypt hash, no hashing), for the staff search scenario.
    pub async fn members(&self, count: usize) -> anyhow::Result<()> {
        use thunderhead::domain::import::ImportedAccount;
        const HASH: &str = "$2a$04$p0Bf9dJiFz.7t.8iJSeX1uv9DMHvmONZm2wj6/lYPTcYjJ8tsJ9i6";
        const FIRST_ID: i64 = 1_000_000;
        let all: Vec<usize> = (0..count).collect();
        for chunk in all.chunks(500) {
            let accounts: Vec<ImportedAccount> = chunk
                .iter()
                .map(|&i| ImportedAccount {
                    id: UserId(FIRST_ID + i as i64),
                    username: format!("member{i}"),
                    email: format!("member{i}@bench.invalid"),
                    password_hash: HASH.into(),
                    staff: false,
                    banned_at: None,
                    created_at: 0,
                    updated_at: 0,
                    domain: "bench.invalid".into(),
                    subdomain: None,
                    sessions: Vec::new(),
                })
                .collect();
            self.store.import_accounts(&accounts, false).await?;
        }
        // As the importer does after a bulk load.
        self.store.refresh_statistics().await?;
        Ok(())
    }

    /// Gives `user` `count` live sessions with IDs `first_iat..first_iat+count`.
    pub async fn add_sessions(
        &self,
        user: UserId,
        first_iat: i64,
        count: usize,
        exp: i64,
    ) -> anyhow::Result<()> {
        let sessions: Vec<NewSession> = (0..count)
            .map(|i| NewSession {
                iat: first_iat + i as i64,
                exp,
                name: "seeded".into(),
            })
            .collect();
        let inserted = self
            .store
            .insert_sessions(user, &sessions)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no user {user}"))?;
        anyhow::ensure!(inserted == count as u64, "inserted {inserted} of {count}");
        if let Some(admin) = &self.admin {
            // PostgreSQL plans by statistics, which autovacuum keeps on a live database; a
            // bulk load followed at once by queries must gather them itself.
            sqlx::query("ANALYZE sessions").execute(&admin.0).await?;
        }
        Ok(())
    }

    /// Whether any revoke-all still has rows waiting for the background purge.
    pub async fn purge_pending(&self) -> anyhow::Result<bool> {
        Ok(self.store.purge_pending().await?)
    }
}

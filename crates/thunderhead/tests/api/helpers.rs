//! `TestApp`: a real server on an ephemeral port, over its own database: a fresh SQLite file,
//! or a fresh schema of the PostgreSQL database named by `TEST_DATABASE_URL`.

use std::str::FromStr;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::postgres::PgConnectOptions;
use thunderhead::clock::{Clock, ManualClock};
use thunderhead::config::Config;
use thunderhead::domain::password::HashCost;
use thunderhead::domain::token::KeyPair;
use thunderhead::domain::UserId;
use thunderhead::http::{self, AppState};
use thunderhead::ratelimit::{CounterStore, MemoryCounters, RateLimits, StoreCounters};
use thunderhead::server::app_state;
use thunderhead::service::NewAccount;
use thunderhead::store::{PoolSettings, PostgresStore, SqliteStore, Store};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Cheap enough for tests, still real Argon2id.
pub const TEST_HASH_COST: HashCost = HashCost {
    memory_kib: 256,
    iterations: 1,
    parallelism: 1,
};

pub const PASSWORD: &str = "correct horse battery staple";

/// A database of the test's own, removed when dropped.
pub enum TestDb {
    Sqlite(tempfile::TempDir),
    Postgres { admin_url: String, schema: String },
}

/// Whether `TEST_LOG` asks for the servers' logs: in-process servers log to the test's
/// output, child processes have theirs printed when they end.
pub fn test_log() -> bool {
    std::env::var("TEST_LOG").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// With `TEST_LOG=1`, every in-process server logs through one subscriber to the test output
/// (`RUST_LOG` filters it, `info` by default).
fn init_test_log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if test_log() {
        ONCE.call_once(|| {
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        });
    }
}

/// The PostgreSQL server tests may use, if any.
pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

impl TestDb {
    /// A new database with no schema yet, on the backend the environment selects.
    pub async fn empty() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        match postgres_url() {
            Some(url) => {
                let schema = format!("th_test_{}", rand::random::<u64>());
                let mut conn =
                    sqlx::ConnectOptions::connect(&PgConnectOptions::from_str(&url)?).await?;
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&mut conn)
                    .await?;
                Ok(Self::Postgres {
                    admin_url: url,
                    schema,
                })
            }
            None => Ok(Self::Sqlite(tempfile::tempdir()?)),
        }
    }

    /// Opens a new store, migrated and empty, on the backend the environment selects.
    pub async fn open(
        pool: &PoolSettings,
    ) -> Result<(Self, Arc<dyn Store>), Box<dyn std::error::Error + Send + Sync>> {
        let db = Self::empty().await?;
        let store: Arc<dyn Store> = match &db {
            Self::Postgres { admin_url, schema } => {
                // Named after the schema, so clean-up can end connections a test left behind.
                let options = PgConnectOptions::from_str(admin_url)?
                    .options([("search_path", schema.as_str())])
                    .application_name(schema);
                Arc::new(PostgresStore::connect_with(options, pool).await?)
            }
            Self::Sqlite(_) => Arc::new(SqliteStore::connect(&db.url(), pool).await?),
        };
        Ok((db, store))
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres { .. })
    }

    /// A fresh PostgreSQL schema whose store connects through `port` on this machine (a proxy
    /// the test controls). `None` without TEST_DATABASE_URL.
    pub async fn open_postgres_via(
        port: u16,
        pool: &PoolSettings,
    ) -> Result<Option<(Self, Arc<dyn Store>)>, Box<dyn std::error::Error + Send + Sync>> {
        if postgres_url().is_none() {
            return Ok(None);
        }
        let (db, _direct) = Self::open(pool).await?;
        let Self::Postgres { admin_url, schema } = &db else {
            return Ok(None);
        };
        let options = PgConnectOptions::from_str(admin_url)?
            .host("127.0.0.1")
            .port(port)
            .options([("search_path", schema.as_str())])
            .application_name(schema);
        let store = PostgresStore::connect_with(options, pool).await?;
        Ok(Some((db, Arc::new(store))))
    }

    /// Where the PostgreSQL server of `TEST_DATABASE_URL` listens.
    pub fn postgres_address() -> Option<String> {
        let options = PgConnectOptions::from_str(&postgres_url()?).ok()?;
        Some(format!("{}:{}", options.get_host(), options.get_port()))
    }

    /// The URL a separate server process would use to reach this database.
    pub fn url(&self) -> String {
        match self {
            Self::Sqlite(dir) => format!("sqlite://{}", dir.path().join("test.db").display()),
            Self::Postgres { admin_url, schema } => {
                let sep = if admin_url.contains('?') { '&' } else { '?' };
                format!(
                    "{admin_url}{sep}options=-c%20search_path%3D{schema}&application_name={schema}"
                )
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Self::Postgres { admin_url, schema } = self {
            drop_schema(admin_url, schema);
        }
    }
}

/// Drops a test's PostgreSQL schema, first ending connections named after it. Runs outside
/// any runtime a `Drop` may be called in, on a short-lived one of its own.
pub fn drop_schema(admin_url: &str, schema: &str) {
    let (url, schema) = (admin_url.to_owned(), schema.to_owned());
    let _ = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            if let Ok(options) = PgConnectOptions::from_str(&url) {
                if let Ok(mut conn) = sqlx::ConnectOptions::connect(&options).await {
                    // A background task of the test (the pruner) may have been stopped
                    // mid-transaction; its locks would block the drop.
                    let _ = sqlx::query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE application_name = $1 AND pid <> pg_backend_pid()",
                    )
                    .bind(&schema)
                    .execute(&mut conn)
                    .await;
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .execute(&mut conn)
                        .await;
                }
            }
        });
    })
    .join();
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub state: AppState,
    pub store: Arc<dyn Store>,
    shutdown: Option<oneshot::Sender<()>>,
    _db: TestDb,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the contract's error body and status.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert!(self.body["message"].is_string(), "body: {}", self.body);
    }
}

/// `requests` per `window_secs`, as a setting.
pub fn limit(requests: u32, window_secs: u64) -> Option<thunderhead::ratelimit::Limit> {
    Some(thunderhead::ratelimit::Limit {
        requests,
        window_secs,
    })
}

/// The session behind `token` ends exactly `lifetime` seconds after its `iat`, and `answer`
/// (the login's body, if given) says the same `exp`.
pub async fn assert_lifetime(app: &TestApp, token: &str, answer: Option<&Value>, lifetime: i64) {
    let session = app.get("/api/user/session", token).await.body;
    let (iat, exp) = (session["iat"].as_i64(), session["exp"].as_i64());
    assert_eq!(
        exp.zip(iat).map(|(e, i)| e - i),
        Some(lifetime),
        "{session}"
    );
    if let Some(answer) = answer {
        assert_eq!(answer["exp"], session["exp"]);
    }
}

impl TestApp {
    /// A server with only the given limits on.
    pub async fn spawn_limited(limits: RateLimits) -> Self {
        Self::spawn_with(|c| c.rate_limits = limits).await
    }

    /// A server with every rate limit off.
    pub async fn spawn() -> Self {
        Self::spawn_with(|c| c.rate_limits = RateLimits::OFF).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> Self {
        match Self::try_spawn(configure).await {
            Ok(app) => app,
            Err(err) => panic!("test server failed to start: {err}"),
        }
    }

    async fn try_spawn(
        configure: impl FnOnce(&mut Config),
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let config = Self::config(configure);
        let (db, store) = TestDb::open(&config.pool).await?;
        Self::spawn_on(config, db, store).await
    }

    /// The settings every test server starts from, adjusted by `configure`.
    pub fn config(configure: impl FnOnce(&mut Config)) -> Config {
        let mut config = Config {
            hash_cost: TEST_HASH_COST,
            // Tests fire many logins at once; the queue bound has tests of its own.
            hash_queue: 1024,
            ..Config::default()
        };
        configure(&mut config);
        config
    }

    /// Serves an already opened store.
    pub async fn spawn_on(
        config: Config,
        db: TestDb,
        store: Arc<dyn Store>,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        init_test_log();
        let clock = Arc::new(ManualClock::new(chrono::Utc::now().timestamp_millis()));
        // As in production: counters shared through PostgreSQL, in memory on SQLite.
        let counters: Arc<dyn CounterStore> = match &db {
            TestDb::Postgres { .. } => Arc::new(StoreCounters(store.clone())),
            TestDb::Sqlite(_) => Arc::new(MemoryCounters::default()),
        };
        let state = app_state(
            &config,
            store.clone(),
            KeyPair::generate(),
            counters,
            clock.clone(),
        )
        .await?;
        state.app.spawn_housekeeping(config.prune_interval);
        // The configured address on an ephemeral port; reached over loopback whatever it is.
        let listener = TcpListener::bind((config.listen.ip(), 0)).await?;
        let mut addr = listener.local_addr()?;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let (tx, rx) = oneshot::channel::<()>();
        let served = state.clone();
        tokio::spawn(async move {
            let _ = http::serve(listener, served, async {
                let _ = rx.await;
            })
            .await;
        });
        Ok(Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            clock,
            state,
            store,
            shutdown: Some(tx),
            _db: db,
        })
    }

    pub fn now_s(&self) -> i64 {
        self.clock.now_s()
    }

    /// Creates an account straight through the service layer (no rate limit involved).
    pub async fn create_user(&self, username: &str, staff: bool) -> UserId {
        let account = NewAccount {
            username: username.into(),
            email: format!("{username}@example.com"),
            password: PASSWORD.into(),
            staff,
        };
        match self.state.app.create_account(account).await {
            Ok(user) => user.id,
            Err(err) => panic!("cannot create {username}: {err}"),
        }
    }

    /// Logs in through the API and returns the token.
    pub async fn login(&self, username: &str) -> String {
        let resp = self
            .call(
                Method::POST,
                "/api/user/session",
                None,
                Some(json!({"username": username, "password": PASSWORD})),
            )
            .await;
        assert_eq!(
            resp.status,
            StatusCode::CREATED,
            "login of {username}: {}",
            resp.body
        );
        resp.body["token"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_default()
    }

    /// A user and one signed-in token for them.
    pub async fn user_with_token(&self, username: &str, staff: bool) -> (UserId, String) {
        let id = self.create_user(username, staff).await;
        (id, self.login(username).await)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Resp {
        let resp = self.send_allowing_500(request).await;
        assert_ne!(resp.status.as_u16(), 500, "unexpected 500: {}", resp.body);
        resp
    }

    /// For the few tests where a 500 is the right answer.
    pub async fn send_allowing_500(&self, request: reqwest::RequestBuilder) -> Resp {
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => panic!("request failed: {err}"),
        };
        let status = response.status();
        let headers = response.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = response.bytes().await.unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "{status}: content-type {content_type:?}"
        );
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn delete(&self, path: &str, token: &str, body: Option<Value>) -> Resp {
        self.call(Method::DELETE, path, Some(token), body).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(token), Some(body))
            .await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

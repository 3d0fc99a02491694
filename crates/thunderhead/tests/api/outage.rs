//! The database goes away and comes back: requests that need it answer 500 within the request
//! timeout (no hang, no crash), `/api` keeps answering, and the server recovers by itself.
//! PostgreSQL only (SQLite cannot become unreachable); the database is reached through a TCP
//! proxy the test can cut.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use thunderhead::store::PoolSettings;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::helpers::{TestApp, TestDb, TestResult};

/// Forwards connections to PostgreSQL while open; when cut, drops every connection and
/// refuses new ones; when stalled, accepts new ones and never answers (a black hole).
struct Proxy {
    port: u16,
    open: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let open = Arc::new(AtomicBool::new(true));
        let stalled = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let (open, stalled, links) = (open.clone(), stalled.clone(), links.clone());
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !open.load(Ordering::SeqCst) {
                        continue; // dropping the socket closes it
                    }
                    let upstream = upstream.clone();
                    let stall = stalled.load(Ordering::SeqCst);
                    let link = tokio::spawn(async move {
                        if stall {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            drop(client);
                        } else if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    if let Ok(mut links) = links.lock() {
                        links.push(link);
                    }
                }
            })
        };
        Ok(Self {
            port,
            open,
            stalled,
            links,
            accept,
        })
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        if let Ok(mut links) = self.links.lock() {
            for link in links.drain(..) {
                link.abort();
            }
        }
    }

    fn stall(&self) {
        self.cut();
        self.stalled.store(true, Ordering::SeqCst);
        self.open.store(true, Ordering::SeqCst);
    }

    fn restore(&self) {
        self.cut();
        self.stalled.store(false, Ordering::SeqCst);
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

#[tokio::test]
async fn database_outage_is_a_prompt_500_and_recovery_is_automatic() -> TestResult {
    let Some(upstream) = TestDb::postgres_address() else {
        eprintln!("the outage test needs TEST_DATABASE_URL (PostgreSQL); not run on SQLite");
        return Ok(());
    };
    let proxy = Proxy::start(upstream).await?;
    let pool = PoolSettings {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(1),
    };
    let config = TestApp::config(|c| {
        c.rate_limits = thunderhead::ratelimit::RateLimits::OFF;
        c.pool = pool.clone();
        c.request_timeout = Duration::from_secs(3);
    });
    let Some((db, store)) = TestDb::open_postgres_via(proxy.port, &pool).await? else {
        return Ok(());
    };
    let app = TestApp::spawn_on(config, db, store).await?;
    let (_, token) = app.user_with_token("alice", false).await;
    assert_eq!(app.get("/api/user/session", &token).await.status, 200);

    proxy.cut();
    for _ in 0..3 {
        let started = Instant::now();
        let request = app
            .client
            .get(format!("{}/api/user/session", app.base))
            .header("Authorization", &token);
        let resp = app.send_allowing_500(request).await;
        let took = started.elapsed();
        resp.assert_error(500, "INTERNAL_SERVER_ERROR");
        assert_eq!(
            resp.body["message"], "Internal Server Error",
            "no detail leaks: {}",
            resp.body
        );
        assert!(
            took < Duration::from_secs(4),
            "answered within the request timeout, took {took:?}"
        );
        assert_eq!(
            app.call(Method::GET, "/api", None, None).await.status,
            200,
            "the sanity endpoint needs no database"
        );
    }

    // A database that accepts connections and never answers is no different.
    proxy.stall();
    let started = Instant::now();
    let request = app
        .client
        .get(format!("{}/api/user/session", app.base))
        .header("Authorization", &token);
    let resp = app.send_allowing_500(request).await;
    resp.assert_error(500, "INTERNAL_SERVER_ERROR");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let request = app
            .client
            .get(format!("{}/api/user/session", app.base))
            .header("Authorization", &token);
        let resp = app.send_allowing_500(request).await;
        if resp.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "did not recover: {}", resp.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

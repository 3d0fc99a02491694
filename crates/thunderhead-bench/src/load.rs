//! The load generator: N keep-alive HTTP/1.1 connections, each sending its next request as
//! soon as the last answer is read, for a fixed time. Every latency is kept for exact
//! percentiles.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One kind of request, repeated.
#[derive(Clone)]
pub struct Shot {
    pub method: Method,
    pub path: String,
    pub token: Option<String>,
    pub body: Option<String>,
    pub expect: u16,
}

impl Shot {
    pub fn get(path: impl Into<String>, token: Option<&str>) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            token: token.map(str::to_owned),
            body: None,
            expect: 200,
        }
    }

    /// `POST /api/introspect` of `token` as the service client `name`.
    pub fn introspect(name: &str, secret: &str, token: &str) -> Self {
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{name}:{secret}"));
        Self {
            method: Method::POST,
            path: "/api/introspect".into(),
            token: Some(format!("Basic {basic}")),
            body: Some(serde_json::json!({ "token": token }).to_string()),
            expect: 200,
        }
    }

    /// `POST /api/user/session` for `username` with the seeded password.
    pub fn login(username: &str) -> Self {
        Self {
            method: Method::POST,
            path: "/api/user/session".into(),
            token: None,
            body: Some(
                serde_json::json!({"username": username, "password": crate::seed::PASSWORD})
                    .to_string(),
            ),
            expect: 201,
        }
    }

    fn request(&self, addr: SocketAddr) -> anyhow::Result<Request<Full<Bytes>>> {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(&self.path)
            .header("host", addr.to_string());
        if let Some(token) = &self.token {
            builder = builder.header("authorization", token);
        }
        let body = match &self.body {
            Some(body) => {
                builder = builder.header("content-type", "application/json");
                Full::new(Bytes::from(body.clone()))
            }
            None => Full::new(Bytes::new()),
        };
        Ok(builder.body(body)?)
    }
}

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub latencies_us: Vec<u32>,
    pub errors: u64,
    pub elapsed: Duration,
}

impl Stats {
    pub fn merge(mut parts: Vec<Stats>, elapsed: Duration) -> Self {
        let mut all = Stats {
            elapsed,
            ..Stats::default()
        };
        for part in &mut parts {
            all.latencies_us.append(&mut part.latencies_us);
            all.errors += part.errors;
        }
        all.latencies_us.sort_unstable();
        all
    }

    pub fn requests_per_sec(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile in milliseconds (0 when nothing was measured).
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let rank = ((self.latencies_us.len() as f64 * q).ceil() as usize)
            .clamp(1, self.latencies_us.len());
        f64::from(self.latencies_us[rank - 1]) / 1000.0
    }
}

/// Runs `connections` connections against `addr` for `duration`, each sending `shot`.
pub async fn drive(addr: SocketAddr, connections: usize, duration: Duration, shot: Shot) -> Stats {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let shot = shot.clone();
            tokio::spawn(async move { one_connection(addr, deadline, shot).await })
        })
        .collect();
    let mut parts = Vec::new();
    for task in tasks {
        // A connection task that died is a failure of the run, not an empty sample.
        parts.push(task.await.unwrap_or_else(|_| Stats {
            errors: 1,
            ..Stats::default()
        }));
    }
    Stats::merge(parts, started.elapsed())
}

async fn one_connection(addr: SocketAddr, deadline: Instant, shot: Shot) -> Stats {
    let mut stats = Stats::default();
    'reconnect: while Instant::now() < deadline {
        let Ok(stream) = TcpStream::connect(addr).await else {
            stats.errors += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Ok((mut sender, connection)) = http1::handshake(TokioIo::new(stream)).await else {
            stats.errors += 1;
            continue;
        };
        tokio::spawn(connection);
        while Instant::now() < deadline {
            let Ok(request) = shot.request(addr) else {
                stats.errors += 1;
                return stats;
            };
            let sent = Instant::now();
            let outcome = async {
                let response = sender.send_request(request).await?;
                let status = response.status().as_u16();
                response.into_body().collect().await?;
                Ok::<u16, hyper::Error>(status)
            }
            .await;
            let took = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
            match outcome {
                Ok(status) if status == shot.expect => stats.latencies_us.push(took),
                Ok(_) => stats.errors += 1,
                Err(_) => {
                    stats.errors += 1;
                    continue 'reconnect;
                }
            }
        }
    }
    stats
}

/// Sends one request on a fresh connection; for set-up and single timed operations.
pub async fn once(
    addr: SocketAddr,
    shot: &Shot,
) -> anyhow::Result<(u16, serde_json::Value, Duration)> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let started = Instant::now();
    let response = sender.send_request(shot.request(addr)?).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    let took = started.elapsed();
    Ok((
        status,
        serde_json::from_slice(&body).unwrap_or_default(),
        took,
    ))
}

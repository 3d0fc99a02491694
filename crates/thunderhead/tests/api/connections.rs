//! Slow and idle clients cannot hold the server: a request's headers have a deadline, idle
//! keep-alive connections are closed, connections beyond the cap wait to be accepted, and a
//! body that trickles or breaks off gets the answer that says so (408, 400), never a 500.

use std::time::Duration;

use thunderhead::http::ConnectionLimits;
use thunderhead::ratelimit::RateLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

use crate::helpers::{TestApp, TestResult};

/// Long enough that a test failing on it is a closed-never connection, not a slow machine.
const GIVE_UP: Duration = Duration::from_secs(10);

fn limits(header_secs: u64, idle_secs: u64, max_connections: usize) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: Duration::from_secs(header_secs),
        keep_alive_timeout: Duration::from_secs(idle_secs),
        max_connections,
    }
}

async fn connect(app: &TestApp) -> std::io::Result<TcpStream> {
    TcpStream::connect(app.base.trim_start_matches("http://")).await
}

/// Reads until the server closes the connection; what it sent, or `None` if it never closed.
async fn read_until_closed(stream: &mut TcpStream) -> Option<String> {
    let mut seen = Vec::new();
    let read = timeout(GIVE_UP, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&seen).into_owned())
}

#[tokio::test]
async fn a_half_sent_header_is_closed_at_the_header_deadline() -> TestResult {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = RateLimits::OFF;
        c.connections = limits(1, 30, 100);
    })
    .await;
    let mut stream = connect(&app).await?;
    stream
        .write_all(b"GET /api HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await?;
    let started = Instant::now();
    assert!(
        read_until_closed(&mut stream).await.is_some(),
        "never closed"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed before its deadline"
    );
    Ok(())
}

#[tokio::test]
async fn a_trickled_header_does_not_reset_its_deadline() -> TestResult {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = RateLimits::OFF;
        c.connections = limits(1, 30, 100);
    })
    .await;
    let mut stream = connect(&app).await?;
    stream.write_all(b"GET /api HTTP/1.1\r\n").await?;
    // A slowloris: one header byte every 200 ms, for up to the give-up time.
    let trickle = async {
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if stream.write_all(b"X").await.is_err() {
                return true;
            }
        }
        false
    };
    let closed = timeout(GIVE_UP, trickle).await.unwrap_or(false);
    assert!(closed, "a trickling header kept the connection open");
    Ok(())
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_and_a_used_one_is_not() -> TestResult {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = RateLimits::OFF;
        c.connections = limits(5, 1, 100);
    })
    .await;
    let mut stream = connect(&app).await?;
    stream
        .write_all(b"GET /api HTTP/1.1\r\nHost: x\r\n\r\n")
        .await?;
    let started = Instant::now();
    let seen = read_until_closed(&mut stream).await.unwrap_or_default();
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(started.elapsed() < GIVE_UP, "idle connection never closed");
    // Requests 600 ms apart on one connection are all served: each resets the idle clock.
    let mut stream = connect(&app).await?;
    for _ in 0..4 {
        stream
            .write_all(b"GET /api HTTP/1.1\r\nHost: x\r\n\r\n")
            .await?;
        let mut buf = [0u8; 1024];
        let n = timeout(GIVE_UP, stream.read(&mut buf)).await??;
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&buf[..n])
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    Ok(())
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_their_turn() -> TestResult {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = RateLimits::OFF;
        c.connections = limits(30, 30, 3);
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = connect(&app).await?;
        // Served, then kept open: each holds a slot.
        stream
            .write_all(b"GET /api HTTP/1.1\r\nHost: x\r\n\r\n")
            .await?;
        let mut buf = [0u8; 1024];
        let n = timeout(GIVE_UP, stream.read(&mut buf)).await??;
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        held.push(stream);
    }
    let mut waiting = connect(&app).await?;
    waiting
        .write_all(b"GET /api HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await?;
    let mut buf = [0u8; 1024];
    assert!(
        timeout(Duration::from_millis(500), waiting.read(&mut buf))
            .await
            .is_err(),
        "a fourth connection was served while three held the cap"
    );
    drop(held.pop());
    let seen = read_until_closed(&mut waiting).await.unwrap_or_default();
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen:?}");
    Ok(())
}

#[tokio::test]
async fn a_trickled_body_is_408_and_a_truncated_one_400() -> TestResult {
    let app = TestApp::spawn_with(|c| {
        c.rate_limits = RateLimits::OFF;
        c.request_timeout = Duration::from_secs(1);
    })
    .await;
    let mut stream = connect(&app).await?;
    stream
        .write_all(
            b"POST /api/user/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        )
        .await?;
    let trickle = async {
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if stream.write_all(b" ").await.is_err() {
                break;
            }
        }
    };
    let _ = timeout(Duration::from_millis(1500), trickle).await;
    let seen = read_until_closed(&mut stream).await.unwrap_or_default();
    assert!(seen.starts_with("HTTP/1.1 408"), "{seen}");
    assert!(seen.contains("application/json"), "{seen}");
    assert!(seen.contains(r#""code":"REQUEST_TIMEOUT_ERROR""#), "{seen}");
    // A body that ends before its Content-Length: nothing whole to read, so missing fields.
    let mut stream = connect(&app).await?;
    stream
        .write_all(
            b"POST /api/user/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"username\":",
        )
        .await?;
    stream.shutdown().await?;
    let seen = read_until_closed(&mut stream).await.unwrap_or_default();
    assert!(seen.starts_with("HTTP/1.1 400"), "{seen}");
    assert!(seen.contains("MISSING_FIELDS_ERROR"), "{seen}");
    Ok(())
}

#[test]
fn the_open_files_limit_is_raised_to_the_hard_limit() {
    let soft = thunderhead::server::raise_descriptor_limit();
    let (now_soft, hard) = libc_limits();
    assert_eq!(soft, Some(now_soft));
    assert_eq!(now_soft, hard, "soft limit raised to the hard one");
}

/// (soft, hard) open-files limits of this process, read from /proc.
fn libc_limits() -> (usize, usize) {
    let text = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let line = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap_or_default();
    let numbers: Vec<usize> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (
        numbers.first().copied().unwrap_or_default(),
        numbers.get(1).copied().unwrap_or_default(),
    )
}

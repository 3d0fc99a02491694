//! Accepting connections, with the limits that keep slow and idle clients from holding the
//! server: at most `max_connections` served at once (the rest wait in the kernel's backlog,
//! costing no descriptor), a deadline for each request's headers, and one for idle
//! keep-alive connections.
//!
//! Hand-rolled around hyper rather than `axum::serve`, which has neither deadline nor cap.
//! hyper's own `header_read_timeout` starts when a connection begins waiting for a request,
//! so it cannot tell an idle keep-alive connection (fine for a while) from one trickling a
//! header (a slowloris): the two deadlines are tracked here instead, per connection.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tower::ServiceExt;

/// How many connections are served at once, and how long a slow or idle one may stay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From connecting, or from the first byte after an idle spell, to a request's last
    /// header byte.
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may sit idle between requests. Longer than the
    /// 60 s idle timeout of common load balancers, so they close first and never send a
    /// request into a connection this side is closing.
    pub keep_alive_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(75),
            max_connections: 10_000,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and lets
/// in-flight requests finish.
pub async fn serve_connections(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors or memory: a moment may free some. Anything else
                    // is about the one connection, already gone.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let service = {
            let activity = activity.clone();
            let router = router.clone();
            hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let busy = activity.begin_request();
                let response = router.clone().oneshot(req.map(axum::body::Body::new));
                async move {
                    let response = response.await;
                    drop(busy);
                    response
                }
            })
        };
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: activity.clone(),
        });
        let connection = builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let connection = graceful.watch(connection);
        let limits = limits.clone();
        tokio::spawn(async move {
            let _permit = permit;
            watch_deadlines(connection, &activity, &limits, peer).await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Runs a connection until it ends or misses a deadline; dropping it closes the socket.
///
/// The deadlines are checked on a tick, a quarter of the shorter timeout, rather than by a
/// timer reset on every request: a request then costs two atomic stores here, and a deadline
/// is enforced at most a quarter late.
async fn watch_deadlines<C, E>(
    connection: C,
    activity: &Activity,
    limits: &ConnectionLimits,
    peer: SocketAddr,
) where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let period = limits
        .header_read_timeout
        .min(limits.keep_alive_timeout)
        .max(Duration::from_millis(40))
        / 4;
    let mut tick = tokio::time::interval_at(Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(connection);
    loop {
        tokio::select! {
            result = &mut connection => {
                if let Err(err) = result {
                    tracing::debug!(%peer, error = %err, "connection ended with an error");
                }
                return;
            }
            _ = tick.tick() => {
                if let Some(phase) = activity.overdue(limits) {
                    tracing::debug!(%peer, phase, "closing a slow or idle connection");
                    return;
                }
            }
        }
    }
}

const HEADERS: u8 = 0;
const BUSY: u8 = 1;
const IDLE: u8 = 2;

/// What a connection is doing, and since when (milliseconds from its start). Atomics only:
/// this is touched by every read and twice by every request.
struct Activity {
    started: Instant,
    phase: AtomicU8,
    since_ms: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    /// A new connection is waiting for its first request's headers.
    fn new() -> Self {
        Self {
            started: Instant::now(),
            phase: AtomicU8::new(HEADERS),
            since_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The phase whose deadline has passed, if one has.
    fn overdue(&self, limits: &ConnectionLimits) -> Option<&'static str> {
        let (name, limit) = match self.phase.load(Ordering::Acquire) {
            HEADERS => ("headers", limits.header_read_timeout),
            IDLE => ("idle", limits.keep_alive_timeout),
            _ => return None,
        };
        let since = self.since_ms.load(Ordering::Acquire);
        let limit_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        (self.now_ms().saturating_sub(since) >= limit_ms).then_some(name)
    }

    /// Bytes arrived: an idle connection starts the next request's header deadline.
    fn received(&self) {
        if self.phase.load(Ordering::Relaxed) == IDLE {
            self.since_ms.store(self.now_ms(), Ordering::Release);
            let _ = self
                .phase
                .compare_exchange(IDLE, HEADERS, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// A request's headers are in: no connection deadline until its response is ready (the
    /// request timeout bounds that).
    fn begin_request(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.phase.store(BUSY, Ordering::Release);
        Busy(self.clone())
    }
}

/// Marks a request in flight until dropped.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.since_ms.store(self.0.now_ms(), Ordering::Release);
            self.0.phase.store(IDLE, Ordering::Release);
        }
    }
}

/// The socket, noting when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.received();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

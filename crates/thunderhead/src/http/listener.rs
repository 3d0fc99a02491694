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
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
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
use tokio::sync::{Notify, Semaphore};
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
async fn watch_deadlines<C, E>(
    connection: C,
    activity: &Activity,
    limits: &ConnectionLimits,
    peer: SocketAddr,
) where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    tokio::pin!(connection);
    loop {
        let changed = activity.changed.notified();
        let deadline = activity.deadline(limits);
        let expired = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = &mut connection => {
                if let Err(err) = result {
                    tracing::debug!(%peer, error = %err, "connection ended with an error");
                }
                return;
            }
            () = changed => {}
            () = expired => {
                if activity.deadline(limits).is_some_and(|at| at <= Instant::now()) {
                    tracing::debug!(%peer, phase = activity.phase_name(), "closing a slow or idle connection");
                    return;
                }
            }
        }
    }
}

const HEADERS: u8 = 0;
const BUSY: u8 = 1;
const IDLE: u8 = 2;

/// What a connection is doing, and since when. Reads only touch the atomic phase; the lock
/// and the wake-up happen once per request.
struct Activity {
    phase: AtomicU8,
    state: Mutex<State>,
    changed: Notify,
}

struct State {
    /// Since when the current phase runs (for BUSY: unused).
    since: Instant,
    in_flight: usize,
}

impl Activity {
    /// A new connection is waiting for its first request's headers.
    fn new() -> Self {
        Self {
            phase: AtomicU8::new(HEADERS),
            state: Mutex::new(State {
                since: Instant::now(),
                in_flight: 0,
            }),
            changed: Notify::new(),
        }
    }

    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        let since = self.state.lock().map(|s| s.since).ok()?;
        match self.phase.load(Ordering::Acquire) {
            HEADERS => Some(since + limits.header_read_timeout),
            IDLE => Some(since + limits.keep_alive_timeout),
            _ => None,
        }
    }

    fn phase_name(&self) -> &'static str {
        match self.phase.load(Ordering::Acquire) {
            HEADERS => "headers",
            IDLE => "idle",
            _ => "busy",
        }
    }

    fn set(&self, phase: u8, state: &mut State) {
        state.since = Instant::now();
        self.phase.store(phase, Ordering::Release);
        self.changed.notify_one();
    }

    /// Bytes arrived: an idle connection starts the next request's header deadline.
    fn received(&self) {
        if self.phase.load(Ordering::Acquire) == IDLE {
            if let Ok(mut state) = self.state.lock() {
                if state.in_flight == 0 && self.phase.load(Ordering::Acquire) == IDLE {
                    self.set(HEADERS, &mut state);
                }
            }
        }
    }

    /// A request's headers are in: no connection deadline until its response is ready (the
    /// request timeout bounds that).
    fn begin_request(self: &Arc<Self>) -> Busy {
        if let Ok(mut state) = self.state.lock() {
            state.in_flight += 1;
            self.set(BUSY, &mut state);
        }
        Busy(self.clone())
    }
}

/// Marks a request in flight until dropped.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        if let Ok(mut state) = self.0.state.lock() {
            state.in_flight = state.in_flight.saturating_sub(1);
            if state.in_flight == 0 {
                self.0.set(IDLE, &mut state);
            }
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

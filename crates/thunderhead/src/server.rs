//! Putting the pieces together: state from settings, the background pruner, and `run`.

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::domain::token::KeyPair;
use crate::hashing::PasswordHasher;
use crate::http::{self, AppState, Directory, HttpSettings};
use crate::key_file::{self, KeyOrigin};
use crate::ratelimit::{CounterStore, MemoryCounters, RateLimiter, StoreCounters};
use crate::service::{App, KeySetError, Lifetimes, Parts, SessionPolicy};
use crate::store::{self, Backend, Store};

/// Builds the shared state from settings and already opened resources, and opens the key set
/// with `master` (the key file's key). `shared_counters` hold the limits that must span
/// instances (see `ratelimit`).
pub async fn app_state(
    config: &Config,
    store: Arc<dyn Store>,
    master: KeyPair,
    shared_counters: Arc<dyn CounterStore>,
    clock: Arc<dyn Clock>,
) -> Result<AppState, StartError> {
    let app = App::new(Parts {
        hasher: PasswordHasher::new(config.hash_cost, config.hash_threads, config.hash_queue)
            .map_err(StartError::Runtime)?,
        limiter: RateLimiter::new(
            Arc::new(MemoryCounters::default()),
            shared_counters,
            clock.clone(),
            config.rate_limits,
        ),
        store,
        clock,
        master: Some(master),
        lifetimes: Lifetimes::default(),
        policy: SessionPolicy {
            idle_timeout: config.session_idle_timeout,
            max_sessions_per_user: config.max_sessions_per_user,
        },
    });
    app.open_key_set().await.map_err(|err| match err {
        KeySetError::OtherMaster { .. } => {
            StartError::Settings(format!("signing key {}: {err}", config.key_file.display()))
        }
        other => StartError::Runtime(anyhow::Error::new(other).context("cannot open the key set")),
    })?;
    Ok(AppState {
        app: Arc::new(app),
        http: Arc::new(HttpSettings {
            body_limit: config.body_limit,
            request_timeout: config.request_timeout,
            trusted_proxies: config.trusted_proxies.clone(),
            directory: Directory {
                domain: config.domain.clone(),
                subdomain: config.subdomain.clone(),
            },
            connections: config.connections.clone(),
            cookie: config.auth_cookie.then(|| crate::http::CookieSettings {
                secure: config.cookie_secure,
                domain: config.cookie_domain.clone(),
            }),
            return_hosts: config.return_hosts.clone(),
        }),
    })
}

/// Why the server could not start: bad settings (exit 2) or a failure at run time (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Settings(String),
    #[error("{}", crate::error::Chain(.0))]
    Runtime(anyhow::Error),
}

/// `thunderhead serve`: runs until SIGINT or SIGTERM, then lets in-flight requests finish.
pub async fn run(mut config: Config) -> Result<(), StartError> {
    let (master, origin) = key_file::load_or_create(&config.key_file)
        .map_err(|e| StartError::Settings(e.to_string()))?;
    if origin == KeyOrigin::Created {
        tracing::info!(path = %config.key_file.display(), "created a new ES256 signing key (mode 0600); keep it: tokens signed with it die with it");
    }
    key_file::warn_if_exposed(&config.key_file);
    let store = store::connect(&config.database_url, &config.pool)
        .await
        .map_err(|e| {
            StartError::Runtime(e.context(format!("cannot open database {}", config.database_url)))
        })?;
    config.connections.max_connections =
        fit_connections_to_descriptors(config.connections.max_connections);
    let listener = TcpListener::bind(config.listen).await.map_err(|e| {
        StartError::Runtime(
            anyhow::Error::new(e).context(format!("cannot listen on {}", config.listen)),
        )
    })?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let shared_counters: Arc<dyn CounterStore> =
        match Backend::from_url(config.database_url.expose()) {
            // Several instances may share a PostgreSQL database; their limits must add up.
            Ok(Backend::Postgres) => Arc::new(StoreCounters(store.clone())),
            _ => Arc::new(MemoryCounters::default()),
        };
    let state = app_state(&config, store, master, shared_counters, clock).await?;
    state.app.spawn_housekeeping(config.prune_interval);
    state.app.spawn_key_refresh();
    state.app.spawn_usage_flush();
    let address = listener
        .local_addr()
        .map_err(|e| StartError::Runtime(e.into()))?;
    tracing::info!(%address, database = %config.database_url, "thunderhead listening");
    let app = state.app.clone();
    http::serve(listener, state, shutdown_signal())
        .await
        .map_err(|e| StartError::Runtime(e.into()))?;
    // Uses noted since the last flush would be lost with the process.
    if let Err(err) = app.flush_usage().await {
        tracing::warn!(error = %err, "writing the last session uses failed");
    }
    tracing::info!("thunderhead stopped");
    Ok(())
}

/// Raises the soft limit on open files to the hard limit (a default of 1024 is soon spent
/// by held connections), then keeps the connection cap below what is left of it, so
/// database connections and files can always still be opened.
fn fit_connections_to_descriptors(max_connections: usize) -> usize {
    // Descriptors kept back for the database pools, the key, logs and the listener.
    const RESERVED: usize = 256;
    let Some(limit) = raise_descriptor_limit() else {
        return max_connections;
    };
    let room = limit.saturating_sub(RESERVED).max(1);
    if max_connections > room {
        tracing::warn!(
            max_connections,
            descriptors = limit,
            using = room,
            "the connection cap does not fit the open-files limit; lowered it (raise `ulimit -Hn` to allow more)"
        );
        return room;
    }
    max_connections
}

/// The soft open-files limit after raising it as far as the hard limit allows.
pub fn raise_descriptor_limit() -> Option<usize> {
    #[cfg(unix)]
    {
        let mut limits = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit only read and write the struct passed by pointer,
        // which lives on this stack frame for the duration of each call.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limits) != 0 {
                return None;
            }
            if limits.rlim_cur < limits.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limits.rlim_max,
                    rlim_max: limits.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    tracing::debug!(
                        from = limits.rlim_cur,
                        to = raised.rlim_cur,
                        "raised the open-files limit"
                    );
                    limits = raised;
                }
            }
        }
        Some(usize::try_from(limits.rlim_cur).unwrap_or(usize::MAX))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

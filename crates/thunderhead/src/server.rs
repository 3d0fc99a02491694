//! Putting the pieces together: state from settings, the background pruner, and `run`.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::domain::password::PasswordHasher;
use crate::domain::token::{KeyOrigin, TokenKeys};
use crate::http::{self, AppState, Directory, HttpSettings};
use crate::ratelimit::{CounterStore, MemoryCounters, RateLimiter, StoreCounters};
use crate::service::{Accounts, App, Lifetimes};
use crate::store::{self, redact_url, Backend, Store};

/// Builds the shared state from settings and already opened resources. `shared_counters`
/// hold the limits that must span instances (see `ratelimit`).
pub fn app_state(
    config: &Config,
    store: Arc<dyn Store>,
    tokens: TokenKeys,
    shared_counters: Arc<dyn CounterStore>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<AppState> {
    let hasher = PasswordHasher::new(config.hash_cost, config.hash_threads)?;
    let local_counters = Arc::new(MemoryCounters::default());
    let app = App {
        accounts: Accounts::new(store.clone(), clock.clone(), hasher),
        limiter: RateLimiter::new(
            local_counters,
            shared_counters,
            clock.clone(),
            config.rate_limits,
        ),
        store,
        clock,
        tokens,
        lifetimes: Lifetimes::default(),
        housekeeping: Arc::new(Notify::new()),
    };
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
pub async fn run(config: Config) -> Result<(), StartError> {
    let (tokens, origin) = TokenKeys::load_or_create(&config.key_file)
        .map_err(|e| StartError::Settings(e.to_string()))?;
    if origin == KeyOrigin::Created {
        tracing::info!(path = %config.key_file.display(), "created a new ES256 signing key (mode 0600); keep it: tokens signed with it die with it");
    }
    let store = store::connect(&config.database_url, &config.pool)
        .await
        .map_err(|e| {
            StartError::Runtime(e.context(format!(
                "cannot open database {}",
                redact_url(&config.database_url)
            )))
        })?;
    let listener = TcpListener::bind(config.listen).await.map_err(|e| {
        StartError::Runtime(
            anyhow::Error::new(e).context(format!("cannot listen on {}", config.listen)),
        )
    })?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let shared_counters: Arc<dyn CounterStore> = match Backend::from_url(&config.database_url) {
        // Several instances may share a PostgreSQL database; their limits must add up.
        Ok(Backend::Postgres) => Arc::new(StoreCounters(store.clone())),
        _ => Arc::new(MemoryCounters::default()),
    };
    let state =
        app_state(&config, store, tokens, shared_counters, clock).map_err(StartError::Runtime)?;
    spawn_pruner(
        state.app.store.clone(),
        state.app.clock.clone(),
        config.prune_interval,
        state.app.housekeeping.clone(),
    );
    let address = listener
        .local_addr()
        .map_err(|e| StartError::Runtime(e.into()))?;
    tracing::info!(%address, database = %redact_url(&config.database_url), "thunderhead listening");
    http::serve(listener, state, shutdown_signal())
        .await
        .map_err(|e| StartError::Runtime(e.into()))?;
    tracing::info!("thunderhead stopped");
    Ok(())
}

/// Housekeeping, every `interval` or as soon as `wake` is notified: deletes expired sessions
/// (bounded batches found through the expiry index) and the rows a revoke-all left behind,
/// and forgets ended rate-limit windows. Nothing here is needed for correctness; it keeps the
/// tables small.
pub fn spawn_pruner(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    interval: Duration,
    wake: Arc<Notify>,
) -> tokio::task::JoinHandle<()> {
    // Small batches: on SQLite each holds the one write lock while it runs.
    const BATCH: u32 = 500;
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        loop {
            tokio::select! {
                _ = ticker.tick() => {},
                () = wake.notified() => {},
            }
            let (mut pruned, mut purged) = (0u64, 0u64);
            loop {
                match store.prune_expired(clock.now_s(), BATCH).await {
                    Ok(0) => break,
                    Ok(n) => pruned += n,
                    Err(err) => {
                        tracing::warn!(error = %err, "pruning expired sessions failed; will retry");
                        break;
                    }
                }
            }
            loop {
                match store.purge_revoked(BATCH).await {
                    Ok(None) => break,
                    Ok(Some(n)) => purged += n,
                    Err(err) => {
                        tracing::warn!(error = %err, "purging revoked sessions failed; will retry");
                        break;
                    }
                }
            }
            if pruned + purged > 0 {
                tracing::info!(pruned, purged, "deleted expired and revoked sessions");
            }
            if let Err(err) = store.prune_rate_limits(clock.now_ms()).await {
                tracing::warn!(error = %err, "pruning ended rate-limit windows failed; will retry");
            }
        }
    })
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

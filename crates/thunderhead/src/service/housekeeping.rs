//! Housekeeping in the background: deletes expired sessions (bounded batches found through the
//! expiry index) and the rows a revoke-all left behind, and forgets ended rate-limit windows.
//! Nothing here is needed for correctness; it keeps the tables small.

use std::sync::Arc;
use std::time::Duration;

use super::App;

impl App {
    /// Runs every `interval`, and as soon as a change leaves rows to purge.
    pub fn spawn_housekeeping(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        // Small batches: on SQLite each holds the one write lock while it runs.
        const BATCH: u32 = 500;
        let app = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {},
                    () = app.housekeeping.notified() => {},
                }
                let (mut pruned, mut purged) = (0u64, 0u64);
                loop {
                    match app.store.prune_expired(app.clock.now_s(), BATCH).await {
                        Ok(0) => break,
                        Ok(n) => pruned += n,
                        Err(err) => {
                            tracing::warn!(error = %err, "pruning expired sessions failed; will retry");
                            break;
                        }
                    }
                }
                loop {
                    match app.store.purge_revoked(BATCH).await {
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
                if let Err(err) = app.store.prune_rate_limits(app.clock.now_ms()).await {
                    tracing::warn!(error = %err, "pruning ended rate-limit windows failed; will retry");
                }
            }
        })
    }

    /// Asks the housekeeping to run now: a change left rows to purge.
    pub(super) fn wake_housekeeping(&self) {
        self.housekeeping.notify_one();
    }
}

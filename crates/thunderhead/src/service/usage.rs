//! When and from where each session was last used (API.md 2.1), without a database write per
//! request: every authenticated request notes its use here, in memory, and a background task
//! writes what was noted every `FLUSH_EVERY` in one statement. A crash loses the uses since
//! the last flush (at most that long), never a session. Each instance flushes its own; the
//! store keeps the later of two uses, so instances cannot move `usedAt` back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::{SessionId, SessionRecord, UserId};
use crate::error::{ApiError, ApiResult};
use crate::store::SessionUse;

use super::App;

/// API.md allows `usedAt` to be 60 s stale; half that leaves room for a slow flush.
pub const FLUSH_EVERY: Duration = Duration::from_secs(30);
/// Sessions whose uses wait in memory at most (about 100 bytes each); at the bound a flush
/// starts early, and until it has run, uses of sessions not already noted are not noted.
const MAX_PENDING: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Use {
    at_ms: i64,
    ip: IpAddr,
}

#[derive(Default)]
pub(super) struct Usage {
    pending: std::sync::Mutex<HashMap<(UserId, SessionId), Use>>,
    full: tokio::sync::Notify,
}

impl App {
    /// Notes that `session` was used now, from `ip`.
    pub(super) fn note_use(&self, session: &SessionRecord, ip: IpAddr, at_ms: i64) {
        let Ok(mut pending) = self.usage.pending.lock() else {
            return;
        };
        let key = (session.user_id, session.id);
        if pending.len() >= MAX_PENDING && !pending.contains_key(&key) {
            self.usage.full.notify_one();
            return;
        }
        pending.insert(key, Use { at_ms, ip });
    }

    /// The last use of a session this instance has noted and not yet written.
    pub(super) fn pending_use(&self, session: &SessionRecord) -> Option<i64> {
        let pending = self.usage.pending.lock().ok()?;
        pending.get(&(session.user_id, session.id)).map(|u| u.at_ms)
    }

    /// Lays the uses noted here and not yet written over what the store said, so this
    /// instance answers with the freshest `usedAt` and `lastIp` it knows.
    pub(super) fn overlay_uses(&self, sessions: &mut [SessionRecord]) {
        let Ok(pending) = self.usage.pending.lock() else {
            return;
        };
        if pending.is_empty() {
            return;
        }
        for session in sessions {
            if let Some(used) = pending.get(&(session.user_id, session.id)) {
                if !matches!(session.used_at, Some(stored) if stored >= used.at_ms) {
                    session.used_at = Some(used.at_ms);
                    session.last_ip = Some(used.ip.to_string());
                }
            }
        }
    }

    /// Writes every noted use; returns how many sessions' uses were written.
    pub async fn flush_usage(&self) -> ApiResult<u64> {
        let taken: Vec<SessionUse> = {
            let mut pending = self.usage.pending.lock().map_err(|_| {
                ApiError::internal(anyhow::anyhow!("the usage log's lock was poisoned"))
            })?;
            pending
                .drain()
                .map(|((user, id), used)| SessionUse {
                    user,
                    id,
                    at_ms: used.at_ms,
                    ip: used.ip.to_string(),
                })
                .collect()
        };
        if taken.is_empty() {
            return Ok(0);
        }
        let sessions = taken.len() as u64;
        let statements = self.store.record_uses(&taken).await?;
        // One line per flush at most, every `FLUSH_EVERY`: what the benchmark reads to show a
        // busy session costs one write per interval.
        tracing::info!(sessions, statements, "wrote session uses");
        Ok(sessions)
    }

    /// Flushes every `FLUSH_EVERY`, or at once when the log is full.
    pub fn spawn_usage_flush(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let app = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(FLUSH_EVERY);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {},
                    () = app.usage.full.notified() => {},
                }
                if let Err(err) = app.flush_usage().await {
                    tracing::warn!(error = %err, "writing session uses failed; those uses are lost, later ones will be written");
                }
            }
        })
    }
}

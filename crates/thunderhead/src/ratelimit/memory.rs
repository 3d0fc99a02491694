//! Counters in this process's memory: right for one instance, and the default.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{CounterStore, Window};

/// Ended windows are swept once the map doubles past its last swept size, so memory tracks
/// the number of active clients, not every client ever seen.
#[derive(Default)]
pub struct MemoryCounters {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    windows: HashMap<String, Window>,
    sweep_at: usize,
}

const MIN_SWEEP: usize = 1024;

#[async_trait]
impl CounterStore for MemoryCounters {
    async fn take(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> anyhow::Result<Window> {
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| anyhow::anyhow!("rate-limit counters poisoned"))?;
        let fresh = Window {
            count: 0,
            reset_at_ms: now_ms.saturating_add(window_ms),
        };
        let current = inner
            .windows
            .get(key)
            .copied()
            .filter(|w| w.reset_at_ms > now_ms)
            .unwrap_or(fresh);
        let updated = Window {
            count: if current.count <= limit {
                current.count + 1
            } else {
                current.count
            },
            ..current
        };
        inner.windows.insert(key.to_owned(), updated);
        if inner.windows.len() >= inner.sweep_at.max(MIN_SWEEP) {
            inner.windows.retain(|_, w| w.reset_at_ms > now_ms);
            inner.sweep_at = inner.windows.len() * 2;
        }
        Ok(updated)
    }

    async fn give_back(&self, key: &str, limit: u32, reset_at_ms: i64) -> anyhow::Result<()> {
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| anyhow::anyhow!("rate-limit counters poisoned"))?;
        if let Some(window) = inner.windows.get_mut(key) {
            if window.reset_at_ms == reset_at_ms && window.count > 0 {
                // A full window's extra one is the marker, not a unit anyone holds.
                window.count = window.count.min(limit) - 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn windows_count_saturate_and_reset() -> anyhow::Result<()> {
        let c = MemoryCounters::default();
        assert_eq!(c.take("k", 2, 1000, 0).await?.count, 1);
        assert_eq!(c.take("k", 2, 1000, 100).await?.count, 2);
        let w = c.take("k", 2, 1000, 500).await?;
        assert_eq!(
            (w.count, w.reset_at_ms),
            (3, 1000),
            "full: the limit plus one"
        );
        assert_eq!(c.take("k", 2, 1000, 600).await?.count, 3, "stays full");
        c.give_back("k", 2, 1000).await?;
        assert_eq!(
            c.take("k", 2, 1000, 700).await?.count,
            2,
            "one unit came back"
        );
        c.give_back("k", 2, 999).await?;
        assert_eq!(
            c.take("k", 2, 1000, 800).await?.count,
            3,
            "another window's is ignored"
        );
        let w = c.take("k", 2, 1000, 1000).await?;
        assert_eq!((w.count, w.reset_at_ms), (1, 2000), "a new window");
        Ok(())
    }
}

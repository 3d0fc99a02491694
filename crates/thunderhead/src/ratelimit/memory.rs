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
    async fn add(
        &self,
        key: &str,
        cost: u32,
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
            count: current.count.saturating_add(cost),
            ..current
        };
        if cost > 0 {
            inner.windows.insert(key.to_owned(), updated);
            if inner.windows.len() >= inner.sweep_at.max(MIN_SWEEP) {
                inner.windows.retain(|_, w| w.reset_at_ms > now_ms);
                inner.sweep_at = inner.windows.len() * 2;
            }
        }
        Ok(updated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn windows_count_and_reset() -> anyhow::Result<()> {
        let c = MemoryCounters::default();
        assert_eq!(c.add("k", 0, 1000, 0).await?.count, 0);
        assert_eq!(c.add("k", 1, 1000, 0).await?.count, 1);
        let w = c.add("k", 1, 1000, 500).await?;
        assert_eq!((w.count, w.reset_at_ms), (2, 1000));
        let w = c.add("k", 1, 1000, 1000).await?;
        assert_eq!((w.count, w.reset_at_ms), (1, 2000));
        Ok(())
    }
}

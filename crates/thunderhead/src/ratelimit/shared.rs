//! Counters kept in the database, so every instance on it sees the same windows.

use std::sync::Arc;

use async_trait::async_trait;

use super::{CounterStore, Window};
use crate::store::Store;

pub struct StoreCounters(pub Arc<dyn Store>);

#[async_trait]
impl CounterStore for StoreCounters {
    async fn take(
        &self,
        key: &str,
        limit: u32,
        window_ms: i64,
        now_ms: i64,
    ) -> anyhow::Result<Window> {
        let (hits, reset_at_ms) = self.0.take_hit(key, limit, window_ms, now_ms).await?;
        Ok(Window {
            count: u32::try_from(hits.max(0)).unwrap_or(u32::MAX),
            reset_at_ms,
        })
    }

    async fn give_back(&self, key: &str, limit: u32, reset_at_ms: i64) -> anyhow::Result<()> {
        Ok(self.0.give_back_hit(key, limit, reset_at_ms).await?)
    }
}

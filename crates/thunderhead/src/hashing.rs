//! Password hashing off the async workers: Argon2id on a few dedicated threads, each reusing
//! one block of memory. A burst of logins queues here instead of stalling the request
//! handlers, and memory stays at `threads × memory_kib` however many logins arrive;
//! allocating the 19 MiB afresh per hash on the blocking pool left hundreds of MiB resident.
//!
//! The queue is bounded: a flood of logins is refused at once (`HashError::Overloaded`,
//! answered 429) rather than queued for longer than any client waits. A job whose caller has
//! gone (timed out, disconnected) is skipped when its turn comes, so abandoned work costs
//! nothing. A bounded MPMC channel (flume) feeds the threads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use argon2::{Block, Params};
use tokio::sync::oneshot;

use crate::domain::password::{hash_password, verify_password, HashCost, Verified};

/// Half the cores, at least one: the other half keep serving while logins hash.
pub fn default_hash_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Why a hash was not computed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every thread is busy and the queue is full.
    #[error("every hashing thread is busy and the queue is full")]
    Overloaded,
    #[error("{}", crate::error::Chain(.0))]
    Failed(#[from] anyhow::Error),
}

/// Counts, for the logs now and for metrics later.
#[derive(Debug, Default)]
pub struct HashStats {
    pub computed: AtomicU64,
    /// Jobs skipped because nobody waited for them any more.
    pub abandoned: AtomicU64,
    /// Jobs refused because the queue was full.
    pub refused: AtomicU64,
    /// When a refusal was last logged (milliseconds since the UNIX epoch), so a flood makes a
    /// line every few seconds, not one per request.
    refusal_logged_ms: AtomicU64,
}

impl HashStats {
    fn count_refusal(&self) {
        const EVERY_MS: u64 = 10_000;
        let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let last = self.refusal_logged_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) >= EVERY_MS
            && self
                .refusal_logged_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(refused_so_far = refused, "password checks refused with 429: every hashing thread is busy and the queue is full");
        }
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    jobs: flume::Sender<Job>,
    stats: Arc<HashStats>,
}

impl PasswordHasher {
    /// `threads` hash at once; up to `queue` more wait for them.
    pub fn new(cost: HashCost, threads: usize, queue: usize) -> anyhow::Result<Self> {
        let params = cost.params().map_err(anyhow::Error::msg)?;
        let (jobs, waiting) = flume::bounded::<Job>(queue.max(1));
        let resident = params.block_count();
        for i in 0..threads.max(1) {
            let waiting = waiting.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    yield_to_requests();
                    let mut blocks: Vec<Block> = Vec::new();
                    // The senders closing ends the thread.
                    while let Ok(job) = waiting.recv() {
                        job(&mut blocks);
                        // An old hash with a larger cost must not keep its memory resident.
                        if blocks.len() > resident {
                            blocks.truncate(resident);
                            blocks.shrink_to_fit();
                        }
                    }
                })?;
        }
        Ok(Self {
            params,
            jobs,
            stats: Arc::default(),
        })
    }

    pub fn stats(&self) -> &HashStats {
        &self.stats
    }

    /// Jobs waiting for a thread now.
    pub fn queue_depth(&self) -> usize {
        self.jobs.len()
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, HashError> {
        let (done, result) = oneshot::channel();
        let stats = self.stats.clone();
        let job: Job = Box::new(move |blocks| {
            if done.is_closed() {
                stats.abandoned.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let outcome = work(blocks);
            stats.computed.fetch_add(1, Ordering::Relaxed);
            let _ = done.send(outcome);
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(flume::TrySendError::Full(_)) => {
                self.stats.count_refusal();
                return Err(HashError::Overloaded);
            }
            Err(flume::TrySendError::Disconnected(_)) => {
                return Err(anyhow::anyhow!("the hashing threads have stopped").into());
            }
        }
        Ok(result
            .await
            .map_err(|_| anyhow::anyhow!("a hashing thread dropped its job"))??)
    }

    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let params = self.params.clone();
        self.run(move |blocks| hash_password(&params, &password, blocks))
            .await
    }

    /// Whether `password` matches `hash`; see `domain::password::verify_password`.
    pub async fn verify(&self, password: String, hash: String) -> Result<Verified, HashError> {
        let current = self.params.clone();
        self.run(move |blocks| verify_password(&current, &password, &hash, blocks))
            .await
    }
}

/// Runs this thread at a lower priority (nice 10), so request handling gets the CPU first while
/// logins hash: a burst of logins then slows logins, not every other request. When nothing
/// else wants the CPU, hashing still gets all of it.
fn yield_to_requests() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls with no pointers; on Linux the nice value is per thread,
        // and the thread is named by its own ID.
        let result = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, 10)
        };
        if result != 0 {
            tracing::debug!("could not lower the hashing thread's priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_and_abandoned_jobs_are_skipped() -> anyhow::Result<()> {
        // Slow enough (tens of milliseconds a hash) that the queue fills.
        let slow = HashCost {
            memory_kib: 8 * 1024,
            iterations: 4,
            parallelism: 1,
        };
        let hasher = PasswordHasher::new(slow, 1, 2)?;
        let attempts = (0..20).map(|_| hasher.hash("pw".into()));
        let results = futures::future::join_all(attempts).await;
        let refused = results
            .iter()
            .filter(|r| matches!(r, Err(HashError::Overloaded)))
            .count();
        let done = results.iter().filter(|r| r.is_ok()).count();
        // One on the thread (if it took it before the rest arrived) and two queued; the
        // others are refused at once.
        assert!((2..=3).contains(&done), "{done} hashed");
        assert_eq!(refused, 20 - done);
        // Callers that give up leave jobs that are skipped, not computed.
        let hasher = PasswordHasher::new(slow, 1, 4)?;
        let before = hasher.stats().computed.load(Ordering::Relaxed);
        for _ in 0..3 {
            let _ = tokio::time::timeout(
                std::time::Duration::from_millis(1),
                hasher.hash("pw".into()),
            )
            .await;
        }
        // A job queued after them runs once they have been skipped or finished.
        hasher.hash("pw".into()).await?;
        let computed = hasher.stats().computed.load(Ordering::Relaxed) - before;
        let abandoned = hasher.stats().abandoned.load(Ordering::Relaxed);
        assert_eq!(computed + abandoned, 4);
        assert!(abandoned >= 2, "abandoned {abandoned}, computed {computed}");
        Ok(())
    }
}

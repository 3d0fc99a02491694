//! Argon2id on a few dedicated threads, each reusing one block of memory. A burst of logins
//! queues here instead of stalling the async workers, and memory stays at
//! `threads × memory_kib` however many logins arrive; allocating the 19 MiB afresh per hash
//! on the blocking pool left hundreds of MiB resident.
//!
//! The queue is bounded: a flood of logins is refused at once (`HashError::Overloaded`,
//! answered 429) rather than queued for longer than any client waits. A job whose caller has
//! gone (timed out, disconnected) is skipped when its turn comes, so abandoned work costs
//! nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

/// Argon2id cost; the defaults are OWASP's first recommendation (19 MiB, 2 passes, 1 lane).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashCost {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl HashCost {
    /// Checks the parameters without hashing anything.
    pub fn validate(&self) -> Result<(), String> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map(drop)
            .map_err(|e| format!("invalid Argon2 parameters: {e}"))
    }
}

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

/// What checking a password found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub matches: bool,
    /// The stored hash was made with other parameters (or another algorithm) than the
    /// configured ones: hash the password anew while it is at hand.
    pub outdated: bool,
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
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid Argon2 parameters: {e}"))?;
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
        self.run(move |blocks| {
            let salt = SaltString::generate(&mut OsRng);
            let mut out = [0u8; 32];
            compute(
                Algorithm::Argon2id,
                Version::V0x13,
                &params,
                password.as_bytes(),
                salt.as_salt(),
                &mut out,
                blocks,
            )?;
            let phc = PasswordHash {
                algorithm: argon2::ARGON2ID_IDENT,
                version: Some(Version::V0x13.into()),
                params: ParamsString::try_from(&params)
                    .map_err(|e| anyhow::anyhow!("params: {e}"))?,
                salt: Some(salt.as_salt()),
                hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("output: {e}"))?),
            };
            Ok(phc.to_string())
        })
        .await
    }

    /// Whether `password` matches. The stored hash carries its own algorithm and parameters,
    /// so hashes made under an older cost still verify (and are reported outdated). The
    /// comparison is constant-time.
    pub async fn verify(&self, password: String, hash: String) -> Result<Verified, HashError> {
        let current = self.params.clone();
        self.run(move |blocks| {
            let parsed = PasswordHash::new(&hash)
                .map_err(|e| anyhow::anyhow!("stored hash is malformed: {e}"))?;
            let algorithm = Algorithm::try_from(parsed.algorithm)
                .map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
            let version = match parsed.version {
                Some(v) => Version::try_from(v).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?,
                None => Version::default(),
            };
            let params =
                Params::try_from(&parsed).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
            let expected = parsed
                .hash
                .ok_or_else(|| anyhow::anyhow!("stored hash has no output"))?;
            let salt = parsed
                .salt
                .ok_or_else(|| anyhow::anyhow!("stored hash has no salt"))?;
            let mut out = vec![0u8; expected.len()];
            compute(
                algorithm,
                version,
                &params,
                password.as_bytes(),
                salt,
                &mut out,
                blocks,
            )?;
            let computed = Output::new(&out).map_err(|e| anyhow::anyhow!("output: {e}"))?;
            let outdated = algorithm != Algorithm::Argon2id
                || version != Version::V0x13
                || params.m_cost() != current.m_cost()
                || params.t_cost() != current.t_cost()
                || params.p_cost() != current.p_cost();
            Ok(Verified {
                // `Output`'s equality is constant-time.
                matches: computed == expected,
                outdated,
            })
        })
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

fn compute(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    password: &[u8],
    salt: Salt<'_>,
    out: &mut [u8],
    blocks: &mut Vec<Block>,
) -> anyhow::Result<()> {
    let mut salt_buf = [0u8; 64];
    let salt = salt
        .decode_b64(&mut salt_buf)
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let needed = params.block_count();
    if blocks.len() < needed {
        blocks.resize(needed, Block::default());
    }
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(password, salt, out, &mut blocks[..needed])
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordHasher as _;

    const CHEAP: HashCost = HashCost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    #[tokio::test]
    async fn hashes_verify_and_differ() -> anyhow::Result<()> {
        let hasher = PasswordHasher::new(CHEAP, 2, 8)?;
        let a = hasher.hash("hunter2".into()).await?;
        let b = hasher.hash("hunter2".into()).await?;
        assert_ne!(a, b, "salts must differ");
        assert!(a.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{a}");
        let good = hasher.verify("hunter2".into(), a.clone()).await?;
        assert!(good.matches && !good.outdated);
        assert!(!hasher.verify("hunter3".into(), a).await?.matches);
        Ok(())
    }

    #[tokio::test]
    async fn interoperates_with_the_argon2_crates_own_encoding() -> anyhow::Result<()> {
        let hasher = PasswordHasher::new(CHEAP, 1, 8)?;
        // A hash made elsewhere, with other parameters, still verifies...
        let params = Params::new(128, 2, 1, None).map_err(|e| anyhow::anyhow!("{e}"))?;
        let salt = SaltString::generate(&mut OsRng);
        let foreign = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"pw", &salt)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .to_string();
        let found = hasher.verify("pw".into(), foreign.clone()).await?;
        assert!(
            found.matches && found.outdated,
            "other parameters: outdated"
        );
        assert!(!hasher.verify("px".into(), foreign).await?.matches);
        // ...and ours verifies with the crate's own verifier.
        let ours = hasher.hash("pw".into()).await?;
        let parsed = PasswordHash::new(&ours).map_err(|e| anyhow::anyhow!("{e}"))?;
        assert!(
            argon2::PasswordVerifier::verify_password(&Argon2::default(), b"pw", &parsed).is_ok()
        );
        assert!(hasher
            .verify("pw".into(), "not a hash".into())
            .await
            .is_err());
        Ok(())
    }

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

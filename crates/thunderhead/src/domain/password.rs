//! Argon2id on a few dedicated threads, each reusing one block of memory. A burst of logins
//! queues here instead of stalling the async workers, and memory stays at
//! `threads × memory_kib` however many logins arrive; allocating the 19 MiB afresh per hash
//! on the blocking pool left hundreds of MiB resident.

use std::sync::{mpsc, Arc, Mutex};

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

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    jobs: mpsc::Sender<Job>,
}

impl PasswordHasher {
    pub fn new(cost: HashCost, threads: usize) -> anyhow::Result<Self> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid Argon2 parameters: {e}"))?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let resident = params.block_count();
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    yield_to_requests();
                    let mut blocks: Vec<Block> = Vec::new();
                    loop {
                        // The lock is held only to take the next job; the sender closing ends the thread.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        job(&mut blocks);
                        // An old hash with a larger cost must not keep its memory resident.
                        if blocks.len() > resident {
                            blocks.truncate(resident);
                            blocks.shrink_to_fit();
                        }
                    }
                })?;
        }
        Ok(Self { params, jobs })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let (done, result) = oneshot::channel();
        self.jobs
            .send(Box::new(move |blocks| {
                let _ = done.send(work(blocks));
            }))
            .map_err(|_| anyhow::anyhow!("the hashing threads have stopped"))?;
        result
            .await
            .map_err(|_| anyhow::anyhow!("a hashing thread dropped its job"))?
    }

    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
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

    /// True when `password` matches. The stored hash carries its own algorithm and parameters,
    /// so hashes made under an older cost still verify. The comparison is constant-time.
    pub async fn verify(&self, password: String, hash: String) -> anyhow::Result<bool> {
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
            Ok(computed == expected)
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
        let hasher = PasswordHasher::new(CHEAP, 2)?;
        let a = hasher.hash("hunter2".into()).await?;
        let b = hasher.hash("hunter2".into()).await?;
        assert_ne!(a, b, "salts must differ");
        assert!(a.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{a}");
        assert!(hasher.verify("hunter2".into(), a.clone()).await?);
        assert!(!hasher.verify("hunter3".into(), a).await?);
        Ok(())
    }

    #[tokio::test]
    async fn interoperates_with_the_argon2_crates_own_encoding() -> anyhow::Result<()> {
        let hasher = PasswordHasher::new(CHEAP, 1)?;
        // A hash made elsewhere, with other parameters, still verifies...
        let params = Params::new(128, 2, 1, None).map_err(|e| anyhow::anyhow!("{e}"))?;
        let salt = SaltString::generate(&mut OsRng);
        let foreign = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"pw", &salt)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .to_string();
        assert!(hasher.verify("pw".into(), foreign.clone()).await?);
        assert!(!hasher.verify("px".into(), foreign).await?);
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
}

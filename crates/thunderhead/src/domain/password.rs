//! Argon2id: the cost, hashing and verifying a password as plain computations over a block
//! of memory the caller owns (and reuses). Where and when they run is `crate::hashing`'s
//! business; this module does no I/O.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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
        self.params().map(drop)
    }

    pub fn params(&self) -> Result<Params, String> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| format!("invalid Argon2 parameters: {e}"))
    }
}

/// What checking a password found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub matches: bool,
    /// The stored hash was made with other parameters (or another algorithm) than the
    /// configured ones: hash the password anew while it is at hand.
    pub outdated: bool,
}

/// A new Argon2id hash of `password` in PHC form, with a fresh salt.
pub fn hash_password(
    params: &Params,
    password: &str,
    blocks: &mut Vec<Block>,
) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let mut out = [0u8; 32];
    compute(
        Algorithm::Argon2id,
        Version::V0x13,
        params,
        password.as_bytes(),
        salt.as_salt(),
        &mut out,
        blocks,
    )?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| anyhow::anyhow!("params: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("output: {e}"))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC `hash`. The stored hash carries its own algorithm and
/// parameters, so hashes made under an older cost still verify (and are reported outdated
/// against `current`). The comparison is constant-time.
pub fn verify_password(
    current: &Params,
    password: &str,
    hash: &str,
    blocks: &mut Vec<Block>,
) -> anyhow::Result<Verified> {
    if is_bcrypt(hash) {
        // Imported from a Cumulonimbus. The crate compares in constant time; the hash is
        // always outdated, so the first successful login replaces it with Argon2id.
        let matches = bcrypt::verify(password, hash)
            .map_err(|e| anyhow::anyhow!("stored bcrypt hash: {e}"))?;
        return Ok(Verified {
            matches,
            outdated: true,
        });
    }
    let parsed =
        PasswordHash::new(hash).map_err(|e| anyhow::anyhow!("stored hash is malformed: {e}"))?;
    let algorithm =
        Algorithm::try_from(parsed.algorithm).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
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
}

/// Whether `hash` looks like a bcrypt hash (`$2a$`, `$2b$`, `$2x$` or `$2y$`, a two-digit
/// cost, 53 characters of salt and hash), as the original Cumulonimbus stored them.
pub fn is_bcrypt(hash: &str) -> bool {
    let bytes = hash.as_bytes();
    hash.len() == 60
        && bytes.starts_with(b"$2")
        && matches!(bytes[2], b'a' | b'b' | b'x' | b'y')
        && bytes[3] == b'$'
        && bytes[4].is_ascii_digit()
        && bytes[5].is_ascii_digit()
        && bytes[6] == b'$'
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

    #[test]
    fn hashes_verify_and_differ() -> anyhow::Result<()> {
        let params = CHEAP.params().map_err(anyhow::Error::msg)?;
        let mut blocks = Vec::new();
        let a = hash_password(&params, "hunter2", &mut blocks)?;
        let b = hash_password(&params, "hunter2", &mut blocks)?;
        assert_ne!(a, b, "salts must differ");
        assert!(a.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{a}");
        let good = verify_password(&params, "hunter2", &a, &mut blocks)?;
        assert!(good.matches && !good.outdated);
        assert!(!verify_password(&params, "hunter3", &a, &mut blocks)?.matches);
        Ok(())
    }

    #[test]
    fn interoperates_with_the_argon2_crates_own_encoding() -> anyhow::Result<()> {
        let current = CHEAP.params().map_err(anyhow::Error::msg)?;
        let mut blocks = Vec::new();
        // A hash made elsewhere, with other parameters, still verifies, and is outdated...
        let params = Params::new(128, 2, 1, None).map_err(|e| anyhow::anyhow!("{e}"))?;
        let salt = SaltString::generate(&mut OsRng);
        let foreign = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"pw", &salt)
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .to_string();
        let found = verify_password(&current, "pw", &foreign, &mut blocks)?;
        assert!(
            found.matches && found.outdated,
            "other parameters: outdated"
        );
        assert!(!verify_password(&current, "px", &foreign, &mut blocks)?.matches);
        // ...and ours verifies with the crate's own verifier.
        let ours = hash_password(&current, "pw", &mut blocks)?;
        let parsed = PasswordHash::new(&ours).map_err(|e| anyhow::anyhow!("{e}"))?;
        assert!(
            argon2::PasswordVerifier::verify_password(&Argon2::default(), b"pw", &parsed).is_ok()
        );
        assert!(verify_password(&current, "pw", "not a hash", &mut blocks).is_err());
        Ok(())
    }

    #[test]
    fn bcrypt_hashes_of_any_cost_verify_and_are_outdated() -> anyhow::Result<()> {
        let params = HashCost::default().params().map_err(anyhow::Error::msg)?;
        let mut blocks = Vec::new();
        for cost in [4, 5, 6] {
            let hash = bcrypt::hash("hunter2", cost)?;
            assert!(is_bcrypt(&hash), "{hash}");
            let right = verify_password(&params, "hunter2", &hash, &mut blocks)?;
            assert_eq!(
                right,
                Verified {
                    matches: true,
                    outdated: true
                }
            );
            let wrong = verify_password(&params, "hunter3", &hash, &mut blocks)?;
            assert!(!wrong.matches);
        }
        // The `$2a$` form the original's node bcrypt wrote.
        let node = "$2a$04$p0Bf9dJiFz.7t.8iJSeX1uv9DMHvmONZm2wj6/lYPTcYjJ8tsJ9i6";
        assert!(is_bcrypt(node));
        assert!(!is_bcrypt("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"));
        assert!(!is_bcrypt("$2a$04$short"));
        Ok(())
    }
}

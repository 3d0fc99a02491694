//! The signing key's file: loaded at start, or created there (mode 0600) on first start.
//! File I/O kept out of `domain::token`, which only signs and verifies.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::domain::token::KeyPair;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read signing key {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("signing key {path} is not a PEM-encoded P-256 private key (PKCS#8 or SEC1)")]
    Parse { path: String },
    #[error("cannot create signing key {path}: {source}")]
    Create {
        path: String,
        source: std::io::Error,
    },
}

/// Whether `load_or_create` found a key or made one, so the caller can say so in its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    Loaded,
    Created,
}

/// Loads the PEM key at `path`, or creates one there (mode 0600) if there is none. Safe when
/// several instances start at once: the key appears whole or not at all, and every instance
/// ends up with the same one.
pub fn load_or_create(path: &Path) -> Result<(KeyPair, KeyOrigin), KeyError> {
    let shown = path.display().to_string();
    match load(path) {
        Err(KeyError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
        other => return other.map(|keys| (keys, KeyOrigin::Loaded)),
    }
    let keys = KeyPair::generate();
    match publish(&keys, path) {
        Ok(()) => Ok((keys, KeyOrigin::Created)),
        // Another instance created it first: use theirs.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            load(path).map(|keys| (keys, KeyOrigin::Loaded))
        }
        Err(source) => Err(KeyError::Create {
            path: shown,
            source,
        }),
    }
}

fn load(path: &Path) -> Result<KeyPair, KeyError> {
    let shown = path.display().to_string();
    let pem = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: shown.clone(),
        source,
    })?;
    KeyPair::from_pem(&pem).ok_or(KeyError::Parse { path: shown })
}

/// Writes the key beside `path`, then links it into place, which fails if `path` exists.
fn publish(keys: &KeyPair, path: &Path) -> std::io::Result<()> {
    let pem = keys.to_pem().map_err(std::io::Error::other)?;
    let mut staging = path.as_os_str().to_owned();
    let nonce = rand_core::RngCore::next_u64(&mut rand_core::OsRng);
    staging.push(format!(".{}.{nonce:x}.tmp", std::process::id()));
    let staging = std::path::PathBuf::from(staging);
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&staging).and_then(|mut file| {
        file.write_all(pem.as_bytes())?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&staging, path));
    let _ = std::fs::remove_file(&staging);
    linked
}

/// A private key readable by anyone but its owner is as good as published.
pub fn warn_if_exposed(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "the signing key is readable by group or others; chmod 600 it");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::token::sample_claims as claims;

    #[test]
    fn concurrent_creation_yields_one_key() -> Result<(), KeyError> {
        let dir = std::env::temp_dir().join(format!("thunderhead-key-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("key.pem");
        let _ = std::fs::remove_file(&path);
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || load_or_create(&path))
            })
            .collect();
        let results: Vec<_> = handles.into_iter().filter_map(|h| h.join().ok()).collect();
        assert_eq!(results.len(), 8);
        let token = load_or_create(&path)?.0.sign(&claims());
        let mut created = 0;
        for result in results {
            let (keys, origin) = result?;
            created += usize::from(origin == KeyOrigin::Created);
            assert_eq!(
                keys.sign(&claims()),
                token,
                "every caller holds the same key (ES256 here signs deterministically, RFC 6979)"
            );
        }
        assert_eq!(created, 1);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}

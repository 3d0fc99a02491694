//! The key set (API.md 2.3). Private keys live in the database, sealed under the key file
//! (`domain::sealing`): every instance on the database can sign with a rotated key without a
//! file being copied around, and reading the database is not enough to sign. The key file is
//! the master: the first key of the set, the key kid-less tokens verify against until an
//! import names another, and the key that seals the rest. Every instance re-reads the set
//! every few seconds, so a rotation or retirement made anywhere (another instance, the CLI)
//! is in force everywhere within `KEY_REFRESH` plus one read.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::sealing::Sealer;
use crate::domain::token::{Jwk, KeyPair, KeySet, PublicKey};
use crate::error::{ApiError, ApiResult};
use crate::store::{KeyRow, Retirement};

use super::App;

/// How often each instance re-reads the key set: API.md promises a change within 10 s.
pub const KEY_REFRESH: Duration = Duration::from_secs(3);

/// The setting under which the database remembers which key file seals its key set.
const MASTER_KEY_SETTING: &str = "signing_key_fingerprint";

/// A key as `thunderhead keys list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub kid: String,
    /// Milliseconds since the UNIX epoch.
    pub created_at: i64,
    pub retired_at: Option<i64>,
    /// Verifies tokens without a `kid`.
    pub legacy: bool,
    /// Signs new tokens.
    pub signing: bool,
}

/// The master key and what it seals with.
pub(super) struct Master {
    key: KeyPair,
    sealer: Sealer,
}

impl Master {
    pub(super) fn new(key: KeyPair) -> Self {
        let sealer = Sealer::new(&key);
        Self { key, sealer }
    }
}

/// Why the key set could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum KeySetError {
    /// The database's keys are sealed under another key file.
    #[error(
        "the key file (public key fingerprint {ours}) is not the one this database was first used \
         with (fingerprint {recorded}); give every instance the same key file"
    )]
    OtherMaster { ours: String, recorded: String },
    #[error("this command needs the key file")]
    NoMaster,
    #[error(transparent)]
    Failed(#[from] ApiError),
}

/// The newest live key signs.
fn signer_of(rows: &[KeyRow]) -> Option<&KeyRow> {
    rows.iter()
        .filter(|r| r.retired_at.is_none())
        .max_by_key(|r| (r.created_at, r.kid.as_str()))
}

impl App {
    fn master(&self) -> Result<&Master, KeySetError> {
        self.master.as_ref().ok_or(KeySetError::NoMaster)
    }

    /// Opens the key set: checks that the database's keys are sealed under our key file,
    /// makes the key file the first key if the set is empty (instances doing so at once all
    /// add the same key, once), and puts the set in force.
    pub async fn open_key_set(&self) -> Result<(), KeySetError> {
        let master = self.master()?;
        let ours = master.key.fingerprint();
        let recorded = self
            .store
            .claim_setting(MASTER_KEY_SETTING, &ours)
            .await
            .map_err(ApiError::from)?;
        if recorded != ours {
            return Err(KeySetError::OtherMaster {
                ours: ours[..16].to_owned(),
                recorded: recorded[..recorded.len().min(16)].to_owned(),
            });
        }
        if self
            .store
            .signing_keys()
            .await
            .map_err(ApiError::from)?
            .is_empty()
        {
            let row = self.key_row(&master.key, true)?;
            if self
                .store
                .add_signing_key(&row)
                .await
                .map_err(ApiError::from)?
            {
                tracing::info!(kid = %row.kid, "started the key set with the key file's key");
            }
        }
        self.refresh_keys().await?;
        Ok(())
    }

    /// `key` as the key set stores it, its private half sealed: which needs the master.
    fn key_row(&self, key: &KeyPair, legacy: bool) -> Result<KeyRow, KeySetError> {
        Ok(KeyRow {
            kid: key.kid().to_owned(),
            public_key: key.public().to_pem(),
            private_key: self.master()?.sealer.seal(key),
            created_at: self.clock.now_ms(),
            retired_at: None,
            legacy,
        })
    }

    /// Re-reads the key set and puts it in force if it changed; true if it did.
    pub async fn refresh_keys(&self) -> ApiResult<bool> {
        let rows = self.store.signing_keys().await?;
        {
            let seen = self.keys_seen.lock().map_err(|_| poisoned())?;
            if *seen == rows {
                return Ok(false);
            }
        }
        let set = self.key_set_from(&rows);
        self.tokens.replace(set);
        *self.keys_seen.lock().map_err(|_| poisoned())? = rows;
        Ok(true)
    }

    fn key_set_from(&self, rows: &[KeyRow]) -> KeySet {
        let live = |r: &&KeyRow| r.retired_at.is_none();
        let public = |r: &KeyRow| {
            let key = PublicKey::from_pem(&r.public_key).filter(|k| k.kid() == r.kid);
            if key.is_none() {
                tracing::error!(kid = %r.kid, "a key of the key set does not read as its kid says; it verifies nothing");
            }
            key
        };
        let verifiers: Vec<PublicKey> = rows.iter().filter(live).filter_map(public).collect();
        let legacy = rows.iter().filter(live).find(|r| r.legacy).and_then(public);
        let signer = signer_of(rows).and_then(|row| {
            let opened = self
                .master
                .as_ref()
                .and_then(|m| m.sealer.open(&row.kid, &row.private_key));
            if opened.is_none() && self.master.is_some() {
                tracing::error!(kid = %row.kid, "cannot open the signing key with this key file; signing nothing");
            }
            opened
        });
        KeySet::new(signer, verifiers, legacy)
    }

    /// Re-reads the key set every `KEY_REFRESH`, for as long as the server runs.
    pub fn spawn_key_refresh(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let app = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(KEY_REFRESH);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                match app.refresh_keys().await {
                    Ok(true) => {
                        tracing::info!(kid = ?app.tokens.signing_kid(), "the key set changed; now in force")
                    }
                    Ok(false) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "reading the key set failed; will retry")
                    }
                }
            }
        })
    }

    /// The keys that verify, for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Vec<Jwk> {
        self.tokens.jwks()
    }

    /// Every key, retired ones included, oldest first.
    pub async fn list_keys(&self) -> ApiResult<Vec<KeyInfo>> {
        let rows = self.store.signing_keys().await?;
        let signer = signer_of(&rows).map(|r| r.kid.clone());
        Ok(rows
            .into_iter()
            .map(|r| KeyInfo {
                signing: signer.as_deref() == Some(r.kid.as_str()),
                kid: r.kid,
                created_at: r.created_at,
                retired_at: r.retired_at,
                legacy: r.legacy,
            })
            .collect())
    }

    /// Makes a new key, which signs from now on; older keys keep verifying until retired.
    pub async fn rotate_key(&self) -> Result<String, KeySetError> {
        let key = KeyPair::generate();
        let row = self.key_row(&key, false)?;
        self.store
            .add_signing_key(&row)
            .await
            .map_err(ApiError::from)?;
        self.refresh_keys().await?;
        Ok(row.kid)
    }

    /// Retires a key: every token it signed is refused from now on (kid-less ones too, if it
    /// is the legacy key).
    pub async fn retire_key(&self, kid: &str) -> ApiResult<Retirement> {
        let outcome = self
            .store
            .retire_signing_key(kid, self.clock.now_ms())
            .await?;
        self.refresh_keys().await?;
        Ok(outcome)
    }

    /// Adds `key` (an imported server's) as the key that kid-less tokens verify against.
    /// True if it was not in the set before.
    pub async fn adopt_legacy_key(&self, key: &KeyPair) -> Result<bool, KeySetError> {
        let row = self.key_row(key, true)?;
        let added = self
            .store
            .add_signing_key(&row)
            .await
            .map_err(ApiError::from)?;
        self.refresh_keys().await?;
        Ok(added)
    }
}

fn poisoned() -> ApiError {
    ApiError::internal(anyhow::anyhow!("the key set's lock was poisoned"))
}

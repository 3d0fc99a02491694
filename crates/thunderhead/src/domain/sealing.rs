//! Sealing the key set's private keys for the database: AES-256-GCM under a key derived
//! (HKDF-SHA256) from the key file's private key, the master. A copy of the database alone
//! then cannot sign tokens; every instance holds the same key file anyway (the server refuses
//! to start on a database first used with another one), so each can open what another sealed.
//! Each sealed key is bound to its `kid` (the AEAD's associated data), so sealed blobs cannot
//! be swapped between rows.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::token::KeyPair;

/// Seals and opens the key set's private keys.
pub struct Sealer(Aes256Gcm);

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

/// Names this use of the master key, so the derived key serves nothing else.
const INFO: &[u8] = b"thunderhead signing-key seal v1";
const NONCE_LEN: usize = 12;

impl Sealer {
    pub fn new(master: &KeyPair) -> Self {
        let secret = master.secret_bytes();
        let mut okm = p256::elliptic_curve::zeroize::Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's 8160-byte limit.
        let _ = hkdf::Hkdf::<sha2::Sha256>::new(None, secret.as_slice())
            .expand(INFO, okm.as_mut_slice());
        Self(Aes256Gcm::new(okm.as_slice().into()))
    }

    /// `key`'s private scalar, sealed: base64 of a random nonce and the ciphertext.
    pub fn seal(&self, key: &KeyPair) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut nonce);
        let secret = key.secret_bytes();
        let payload = Payload {
            msg: secret.as_slice(),
            aad: key.kid().as_bytes(),
        };
        // Encryption fails only for messages beyond GCM's size limit; 32 bytes is not.
        let sealed = self
            .0
            .encrypt(&Nonce::from(nonce), payload)
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        STANDARD.encode(out)
    }

    /// The key sealed under `kid`; `None` if it was sealed under another master, altered, or
    /// is not the key `kid` names.
    pub fn open(&self, kid: &str, sealed: &str) -> Option<KeyPair> {
        let bytes = STANDARD.decode(sealed).ok()?;
        if bytes.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let payload = Payload {
            msg: ciphertext,
            aad: kid.as_bytes(),
        };
        let secret = p256::elliptic_curve::zeroize::Zeroizing::new(
            self.0.decrypt(&Nonce::from(nonce), payload).ok()?,
        );
        KeyPair::from_secret_bytes(&secret).filter(|key| key.kid() == kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_under_their_master_and_kid() {
        let master = KeyPair::generate();
        let sealer = Sealer::new(&master);
        let key = KeyPair::generate();
        let sealed = sealer.seal(&key);
        assert!(!sealed.contains(&STANDARD.encode(key.secret_bytes().as_slice())));
        let opened = sealer.open(key.kid(), &sealed);
        assert_eq!(opened.map(|k| k.fingerprint()), Some(key.fingerprint()));
        assert!(Sealer::new(&KeyPair::generate())
            .open(key.kid(), &sealed)
            .is_none());
        assert!(sealer.open("0123456789abcdef", &sealed).is_none());
        assert!(sealer.open(key.kid(), "not base64!").is_none());
        assert!(sealer.open(key.kid(), "AAAA").is_none());
        assert_ne!(sealer.seal(&key), sealed, "a fresh nonce each time");
    }
}

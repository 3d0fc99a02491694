//! ES256 JWTs. Verification is hand-rolled on purpose: the header must say ES256, so there is
//! no algorithm negotiation to abuse (`alg: none`, HS256 keyed with the public key).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use p256::SecretKey;
use serde::{Deserialize, Serialize};

use super::{SessionId, UserId};

/// The claims Cumulonimbus clients expect: `sub`, `name`, `iat`, `exp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub name: String,
    pub iat: i64,
    pub exp: i64,
}

/// What a verified token names; whether that session still lives is the store's question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenSubject {
    pub user: UserId,
    pub session: SessionId,
    pub exp: i64,
}

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

#[derive(Clone)]
pub struct TokenKeys {
    signing: SigningKey,
    verifying: VerifyingKey,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(<redacted>)")
    }
}

/// Whether `load_or_create` found a key or made one, so the caller can say so in its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    Loaded,
    Created,
}

const HEADER: &str = r#"{"alg":"ES256","typ":"JWT"}"#;

impl TokenKeys {
    pub fn generate() -> Self {
        Self::from_secret(SecretKey::random(&mut rand_core::OsRng))
    }

    fn from_secret(secret: SecretKey) -> Self {
        let signing = SigningKey::from(secret);
        let verifying = *signing.verifying_key();
        Self { signing, verifying }
    }

    /// Loads the PEM key at `path`, or creates one there (mode 0600) if there is none.
    pub fn load_or_create(path: &Path) -> Result<(Self, KeyOrigin), KeyError> {
        let shown = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(pem) => Self::from_pem(&pem)
                .map(|keys| (keys, KeyOrigin::Loaded))
                .ok_or(KeyError::Parse { path: shown }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let keys = Self::generate();
                keys.write_new(path).map_err(|source| KeyError::Create {
                    path: shown,
                    source,
                })?;
                Ok((keys, KeyOrigin::Created))
            }
            Err(source) => Err(KeyError::Read {
                path: shown,
                source,
            }),
        }
    }

    /// Accepts PKCS#8 (`BEGIN PRIVATE KEY`) and SEC1 (`BEGIN EC PRIVATE KEY`, what
    /// `openssl ecparam -genkey` writes and the original server's `jwt.pem` holds).
    pub fn from_pem(pem: &str) -> Option<Self> {
        if let Ok(secret) = SecretKey::from_pkcs8_pem(pem) {
            return Some(Self::from_secret(secret));
        }
        let begin = pem.find("-----BEGIN EC PRIVATE KEY-----")?;
        let end_marker = "-----END EC PRIVATE KEY-----";
        let end = pem[begin..].find(end_marker)? + begin + end_marker.len();
        SecretKey::from_sec1_pem(&pem[begin..end])
            .ok()
            .map(Self::from_secret)
    }

    fn write_new(&self, path: &Path) -> std::io::Result<()> {
        let pem = SecretKey::from(&self.signing)
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path)?;
        file.write_all(pem.as_bytes())?;
        file.sync_all()
    }

    /// The verification key as SPKI PEM, for anyone who must check tokens offline.
    pub fn public_key_pem(&self) -> String {
        use p256::pkcs8::EncodePublicKey;
        self.verifying
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default()
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let header = URL_SAFE_NO_PAD.encode(HEADER);
        // Serialising four plain fields cannot fail; fall back to an empty object regardless.
        let payload = serde_json::to_vec(claims).unwrap_or_else(|_| b"{}".to_vec());
        let mut token = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
        let signature: Signature = self.signing.sign(token.as_bytes());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        token
    }

    /// Checks the signature and the claims' shape and expiry. `None` for anything else.
    pub fn verify(&self, token: &str, now_s: i64) -> Option<TokenSubject> {
        let mut parts = token.split('.');
        let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        if header.alg != "ES256" || header.typ.as_deref().is_some_and(|t| t != "JWT") {
            return None;
        }
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).ok()?).ok()?;
        let signed_len = token.len() - token.rsplit('.').next().map_or(0, str::len) - 1;
        self.verifying
            .verify(&token.as_bytes()[..signed_len], &signature)
            .ok()?;
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        if claims.exp <= now_s {
            return None;
        }
        Some(TokenSubject {
            user: UserId::parse(&claims.sub)?,
            session: SessionId(claims.iat),
            exp: claims.exp,
        })
    }
}

/// Far above any token this server issues; anything longer is refused before any decoding.
const MAX_TOKEN_LEN: usize = 4096;

#[derive(Deserialize)]
struct Header {
    alg: String,
    typ: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            sub: "7".into(),
            name: "test".into(),
            iat: 1_000,
            exp: 2_000,
        }
    }

    #[test]
    fn round_trip_and_expiry() {
        let keys = TokenKeys::generate();
        let token = keys.sign(&claims());
        let subject = keys.verify(&token, 1_500);
        assert_eq!(
            subject,
            Some(TokenSubject {
                user: UserId(7),
                session: SessionId(1_000),
                exp: 2_000
            })
        );
        assert_eq!(keys.verify(&token, 2_000), None);
    }

    #[test]
    fn other_key_and_tampering_are_refused() {
        let keys = TokenKeys::generate();
        let token = keys.sign(&claims());
        assert_eq!(TokenKeys::generate().verify(&token, 1_500), None);
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap_or_default();
        assert_eq!(keys.verify(&tampered, 1_500), None);
    }

    #[test]
    fn pem_round_trip_in_both_encodings() {
        let keys = TokenKeys::generate();
        let secret = SecretKey::from(&keys.signing);
        let pkcs8 = secret
            .to_pkcs8_pem(LineEnding::LF)
            .map(|p| p.to_string())
            .unwrap_or_default();
        let sec1 = secret
            .to_sec1_pem(LineEnding::LF)
            .map(|p| p.to_string())
            .unwrap_or_default();
        let token = keys.sign(&claims());
        for pem in [
            pkcs8,
            format!(
                "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{}",
                sec1.as_str()
            ),
        ] {
            let loaded = TokenKeys::from_pem(&pem);
            assert!(
                loaded.is_some_and(|k| k.verify(&token, 1_500).is_some()),
                "{pem}"
            );
        }
        assert!(TokenKeys::from_pem("not a key").is_none());
    }
}

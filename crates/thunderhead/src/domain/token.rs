//! ES256 JWTs. Verification is hand-rolled on purpose: the header must say ES256, so there is
//! no algorithm negotiation to abuse (`alg: none`, HS256 keyed with the public key).

use std::sync::Arc;

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

#[derive(Clone)]
pub struct TokenKeys {
    signing: SigningKey,
    verifying: VerifyingKey,
    /// The key's ID, in the `kid` header of every token signed with it: the first 16 hex
    /// digits of its fingerprint.
    kid: Arc<str>,
    /// The encoded header of every token signed with it.
    header: Arc<str>,
    verified: Arc<VerifiedTokens>,
}

/// Tokens whose signature already checked out, keyed by the whole token, so a repeat visitor
/// skips the ECDSA verification (three quarters of an authenticated request's CPU). It says
/// nothing about whether the session still lives; that is checked on every request.
/// Bounded, with quick_cache's S3-FIFO eviction: a flood of one-off tokens evicts one-off
/// tokens, while the ones in steady use stay (the map this replaces emptied itself when full,
/// making every client pay a verification at once).
struct VerifiedTokens(quick_cache::sync::Cache<Box<str>, TokenSubject>);

/// About 1.5 MiB at most.
const VERIFIED_CAPACITY: usize = 4096;

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self(quick_cache::sync::Cache::new(VERIFIED_CAPACITY))
    }
}

impl VerifiedTokens {
    fn get(&self, token: &str) -> Option<TokenSubject> {
        self.0.get(token)
    }

    fn insert(&self, token: &str, subject: TokenSubject) {
        self.0.insert(token.into(), subject);
    }
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(<redacted>)")
    }
}

/// The header the original server's tokens, and this one's before keys had IDs, carry.
#[cfg(test)]
const LEGACY_HEADER: &str = r#"{"alg":"ES256","typ":"JWT"}"#;

impl TokenKeys {
    pub fn generate() -> Self {
        Self::from_secret(SecretKey::random(&mut rand_core::OsRng))
    }

    fn from_secret(secret: SecretKey) -> Self {
        let signing = SigningKey::from(secret);
        let verifying = *signing.verifying_key();
        let kid: Arc<str> = fingerprint_of(&verifying)[..16].into();
        let header = URL_SAFE_NO_PAD
            .encode(format!(r#"{{"alg":"ES256","typ":"JWT","kid":"{kid}"}}"#))
            .into();
        Self {
            signing,
            verifying,
            kid,
            header,
            verified: Arc::default(),
        }
    }

    /// The ID in the `kid` header of the tokens this key signs.
    pub fn kid(&self) -> &str {
        &self.kid
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

    /// The private key as PKCS#8 PEM, for writing to the key file; wiped from memory when
    /// dropped.
    pub fn to_pem(&self) -> Result<p256::elliptic_curve::zeroize::Zeroizing<String>, String> {
        SecretKey::from(&self.signing)
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| e.to_string())
    }

    /// The SHA-256 of the public key (SPKI DER), hex: names the key without revealing it.
    pub fn fingerprint(&self) -> String {
        fingerprint_of(&self.verifying)
    }

    /// The verification key as SPKI PEM, for anyone who must check tokens offline.
    pub fn public_key_pem(&self) -> String {
        use p256::pkcs8::EncodePublicKey;
        self.verifying
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default()
    }

    pub fn sign(&self, claims: &Claims) -> String {
        // Serialising four plain fields cannot fail; fall back to an empty object regardless.
        let payload = serde_json::to_vec(claims).unwrap_or_else(|_| b"{}".to_vec());
        let mut token = format!("{}.{}", self.header, URL_SAFE_NO_PAD.encode(payload));
        let signature: Signature = self.signing.sign(token.as_bytes());
        // p256 signs with either S; the low one is the only form a `kid` token may have.
        let signature = signature.normalize_s().unwrap_or(signature);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        token
    }

    /// Checks the signature and the claims' shape and expiry. `None` for anything else.
    pub fn verify(&self, token: &str, now_s: i64) -> Option<TokenSubject> {
        if let Some(subject) = self.verified.get(token) {
            return (subject.exp > now_s).then_some(subject);
        }
        let subject = self.verify_uncached(token, now_s)?;
        self.verified.insert(token, subject);
        Some(subject)
    }

    fn verify_uncached(&self, token: &str, now_s: i64) -> Option<TokenSubject> {
        let mut parts = token.split('.');
        let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || token.len() > MAX_TOKEN_LEN {
            return None;
        }
        let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        // RFC 7515 4.1.11: extensions named in `crit` must be understood; none are.
        if header.alg != "ES256"
            || header.typ.as_deref().is_some_and(|t| t != "JWT")
            || header.crit.is_some()
            || header.kid.as_deref().is_some_and(|kid| kid != &*self.kid)
        {
            return None;
        }
        let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).ok()?).ok()?;
        // (r, n - s) verifies as well as (r, s), so one token would have two spellings. Every
        // token with a `kid` was signed low-S, so its high-S twin is refused. Tokens without
        // one (the original server's, and this one's before keys had IDs) were signed with
        // whichever S came out, so either form must keep verifying for them.
        if header.kid.is_some() && signature.normalize_s().is_some() {
            return None;
        }
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
    kid: Option<String>,
    crit: Option<serde_json::Value>,
}

fn fingerprint_of(key: &VerifyingKey) -> String {
    use p256::pkcs8::EncodePublicKey;
    use sha2::Digest;
    let der = key
        .to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .unwrap_or_default();
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Claims for tests: user 7's session 1000, expiring at 2000.
#[cfg(test)]
pub(crate) fn sample_claims() -> Claims {
    Claims {
        sub: "7".into(),
        name: "test".into(),
        iat: 1_000,
        exp: 2_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sample_claims as claims;

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
    fn cached_verification_still_expires() {
        let keys = TokenKeys::generate();
        let token = keys.sign(&claims());
        assert!(keys.verify(&token, 1_500).is_some());
        assert!(keys.verify(&token, 1_500).is_some(), "from the cache");
        assert_eq!(
            keys.verify(&token, 2_000),
            None,
            "expiry is checked on a cache hit too"
        );
        let other = TokenKeys::generate();
        assert_eq!(other.verify(&token, 1_500), None, "caches are per key");
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

    /// Signs `header.payload` as given, for tokens this server would never make.
    fn sign_raw(keys: &TokenKeys, header: &str, claims: &Claims) -> (String, Signature) {
        let payload = serde_json::to_vec(claims).unwrap_or_default();
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature: Signature = keys.signing.sign(signed.as_bytes());
        (signed, signature)
    }

    /// The token with its signature's S replaced by n - S: as valid to plain ECDSA.
    fn twin(token: &str) -> String {
        let (signed, signature) = token.rsplit_once('.').unwrap_or_default();
        let bytes = URL_SAFE_NO_PAD.decode(signature).unwrap_or_default();
        let Ok(signature) = Signature::from_slice(&bytes) else {
            return String::new();
        };
        let (r, s) = signature.split_scalars();
        let flipped = Signature::from_scalars(r, -*s).unwrap_or(signature);
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(flipped.to_bytes()))
    }

    #[test]
    fn a_signed_token_has_one_spelling() {
        let keys = TokenKeys::generate();
        for iat in 1_000..1_040 {
            let token = keys.sign(&Claims { iat, ..claims() });
            assert!(keys.verify(&token, 1_500).is_some());
            let other = twin(&token);
            assert_ne!(other, token);
            assert!(
                keys.verifying
                    .verify(other.rsplit_once('.').map_or(b"", |p| p.0.as_bytes()), &{
                        let sig = other.rsplit('.').next().unwrap_or("");
                        Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig).unwrap_or_default())
                            .unwrap_or_else(|_| unreachable!())
                    })
                    .is_ok(),
                "plain ECDSA accepts the twin"
            );
            assert_eq!(
                keys.verify(&other, 1_500),
                None,
                "the high-S twin is refused"
            );
        }
    }

    #[test]
    fn kid_less_tokens_verify_in_either_form_and_a_foreign_kid_is_refused() {
        let keys = TokenKeys::generate();
        let (signed, signature) = sign_raw(&keys, LEGACY_HEADER, &claims());
        let legacy = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        assert!(keys.verify(&legacy, 1_500).is_some());
        assert!(keys.verify(&twin(&legacy), 1_500).is_some());
        let header = r#"{"alg":"ES256","typ":"JWT","kid":"0000000000000000"}"#;
        let (signed, signature) = sign_raw(&keys, header, &claims());
        let signature = signature.normalize_s().unwrap_or(signature);
        let foreign = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        assert_eq!(keys.verify(&foreign, 1_500), None);
    }

    #[test]
    fn a_header_with_crit_is_refused() {
        let keys = TokenKeys::generate();
        let header = r#"{"alg":"ES256","typ":"JWT","crit":["exp"]}"#;
        let (signed, signature) = sign_raw(&keys, header, &claims());
        let token = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        assert_eq!(keys.verify(&token, 1_500), None);
    }

    #[test]
    fn the_cache_stays_bounded_and_keeps_working_past_its_capacity() {
        let keys = TokenKeys::generate();
        let tokens: Vec<String> = (0..VERIFIED_CAPACITY * 2)
            .map(|i| {
                keys.sign(&Claims {
                    iat: 1_000 + i as i64,
                    ..claims()
                })
            })
            .collect();
        for token in &tokens {
            assert!(keys.verify(token, 1_500).is_some());
        }
        assert!(keys.verified.0.len() <= VERIFIED_CAPACITY);
        assert!(
            keys.verify(&tokens[0], 1_500).is_some(),
            "evicted ones verify again"
        );
    }

    #[test]
    fn fingerprints_name_keys() {
        let a = TokenKeys::generate();
        let b = TokenKeys::generate();
        assert_eq!(a.fingerprint().len(), 64);
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
        assert_ne!(a.fingerprint(), b.fingerprint());
    }
}

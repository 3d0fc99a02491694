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

/// One ES256 key pair and the ID it signs under.
#[derive(Clone)]
pub struct KeyPair {
    signing: SigningKey,
    public: PublicKey,
    /// The encoded header of every token signed with it.
    header: Arc<str>,
}

/// The public half of a key and its ID: what verifying needs.
#[derive(Clone)]
pub struct PublicKey {
    verifying: VerifyingKey,
    /// The first 16 hex digits of the public key's SHA-256 fingerprint.
    kid: Arc<str>,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyPair({}, <redacted>)", self.public.kid)
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.kid)
    }
}

/// The header the original server's tokens, and this one's before keys had IDs, carry.
#[cfg(test)]
const LEGACY_HEADER: &str = r#"{"alg":"ES256","typ":"JWT"}"#;

impl PublicKey {
    fn new(verifying: VerifyingKey) -> Self {
        let kid = fingerprint_of(&verifying)[..16].into();
        Self { verifying, kid }
    }

    /// Reads an SPKI PEM public key (`BEGIN PUBLIC KEY`).
    pub fn from_pem(pem: &str) -> Option<Self> {
        use p256::pkcs8::DecodePublicKey;
        VerifyingKey::from_public_key_pem(pem).ok().map(Self::new)
    }

    /// The verification key as SPKI PEM, for anyone who must check tokens offline.
    pub fn to_pem(&self) -> String {
        use p256::pkcs8::EncodePublicKey;
        self.verifying
            .to_public_key_pem(LineEnding::LF)
            .unwrap_or_default()
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The SHA-256 of the public key (SPKI DER), hex: names the key without revealing it.
    pub fn fingerprint(&self) -> String {
        fingerprint_of(&self.verifying)
    }

    /// The key as an RFC 7517 JWK (RFC 7518 6.2.1: `x` and `y` are the affine coordinates,
    /// 32 bytes each, base64url).
    pub fn jwk(&self) -> Jwk {
        let point = self.verifying.to_encoded_point(false);
        let coordinate = |c: Option<&p256::FieldBytes>| {
            c.map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
                .unwrap_or_default()
        };
        Jwk {
            kty: "EC",
            crv: "P-256",
            x: coordinate(point.x()),
            y: coordinate(point.y()),
            kid: self.kid.to_string(),
            alg: "ES256",
            key_use: "sig",
        }
    }
}

/// One key of a JWK Set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Jwk {
    pub kty: &'static str,
    pub crv: &'static str,
    pub x: String,
    pub y: String,
    pub kid: String,
    pub alg: &'static str,
    #[serde(rename = "use")]
    pub key_use: &'static str,
}

impl KeyPair {
    pub fn generate() -> Self {
        Self::from_secret(SecretKey::random(&mut rand_core::OsRng))
    }

    fn from_secret(secret: SecretKey) -> Self {
        let signing = SigningKey::from(secret);
        let public = PublicKey::new(*signing.verifying_key());
        let header = URL_SAFE_NO_PAD
            .encode(format!(
                r#"{{"alg":"ES256","typ":"JWT","kid":"{}"}}"#,
                public.kid
            ))
            .into();
        Self {
            signing,
            public,
            header,
        }
    }

    /// The ID in the `kid` header of the tokens this key signs.
    pub fn kid(&self) -> &str {
        &self.public.kid
    }

    pub fn public(&self) -> &PublicKey {
        &self.public
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

    /// The private scalar, 32 bytes, wiped when dropped: for sealing and for deriving keys.
    pub fn secret_bytes(&self) -> p256::elliptic_curve::zeroize::Zeroizing<[u8; 32]> {
        p256::elliptic_curve::zeroize::Zeroizing::new(self.signing.to_bytes().into())
    }

    /// The key whose private scalar is `bytes`.
    pub fn from_secret_bytes(bytes: &[u8]) -> Option<Self> {
        SecretKey::from_slice(bytes).ok().map(Self::from_secret)
    }

    /// The SHA-256 of the public key (SPKI DER), hex.
    pub fn fingerprint(&self) -> String {
        self.public.fingerprint()
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
}

/// The keys in force: the one that signs, those that verify (by `kid`), and the one that
/// verifies tokens without a `kid`. Built whole and swapped in whole.
#[derive(Debug, Default)]
pub struct KeySet {
    signer: Option<KeyPair>,
    /// Few (one per rotation not yet retired): a scan beats a map.
    verifiers: Vec<PublicKey>,
    legacy: Option<PublicKey>,
}

impl KeySet {
    /// `verifiers` are the live keys; `signer` and `legacy`, if given, should be among them.
    pub fn new(
        signer: Option<KeyPair>,
        verifiers: Vec<PublicKey>,
        legacy: Option<PublicKey>,
    ) -> Self {
        Self {
            signer,
            verifiers,
            legacy,
        }
    }

    /// A set of one key that signs, verifies, and verifies kid-less tokens too.
    pub fn single(key: KeyPair) -> Self {
        let public = key.public.clone();
        Self::new(Some(key), vec![public.clone()], Some(public))
    }

    fn by_kid(&self, kid: &str) -> Option<&PublicKey> {
        self.verifiers.iter().find(|k| &*k.kid == kid)
    }
}

/// The key set in force, swapped whole when it changes (a rotation, a retirement, on this
/// instance or another), and a cache of tokens whose signature checked out.
pub struct Tokens {
    set: arc_swap::ArcSwap<Generation>,
    verified: VerifiedTokens,
}

/// A key set and its number: every swap gets a new one, so a cached verification made under
/// an older set is not trusted under a newer one (whose keys may have been retired).
struct Generation {
    number: u64,
    keys: KeySet,
}

/// Tokens whose signature already checked out, keyed by the whole token, so a repeat visitor
/// skips the ECDSA verification (three quarters of an authenticated request's CPU). It says
/// nothing about whether the session still lives; that is checked on every request.
/// Bounded, with quick_cache's S3-FIFO eviction: a flood of one-off tokens evicts one-off
/// tokens, while the ones in steady use stay (the map this replaces emptied itself when full,
/// making every client pay a verification at once).
struct VerifiedTokens(quick_cache::sync::Cache<Box<str>, (TokenSubject, u64)>);

/// About 1.5 MiB at most.
const VERIFIED_CAPACITY: usize = 4096;

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self(quick_cache::sync::Cache::new(VERIFIED_CAPACITY))
    }
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(<redacted>)")
    }
}

impl Tokens {
    pub fn new(keys: KeySet) -> Self {
        Self {
            set: arc_swap::ArcSwap::from_pointee(Generation { number: 0, keys }),
            verified: VerifiedTokens::default(),
        }
    }

    /// Puts `keys` in force at once; verifications cached under the old set are dropped.
    pub fn replace(&self, keys: KeySet) {
        let number = self.set.load().number + 1;
        self.set.store(Arc::new(Generation { number, keys }));
        self.verified.0.clear();
    }

    /// The ID of the key that signs now, if any does.
    pub fn signing_kid(&self) -> Option<String> {
        self.set
            .load()
            .keys
            .signer
            .as_ref()
            .map(|k| k.kid().to_owned())
    }

    /// Signs with the key in force; `None` when the set has no signing key.
    pub fn sign(&self, claims: &Claims) -> Option<String> {
        self.set.load().keys.signer.as_ref().map(|k| k.sign(claims))
    }

    /// Every key that verifies, as a JWK Set's `keys`.
    pub fn jwks(&self) -> Vec<Jwk> {
        self.set
            .load()
            .keys
            .verifiers
            .iter()
            .map(PublicKey::jwk)
            .collect()
    }

    /// Checks the signature and the claims' shape and expiry. `None` for anything else.
    pub fn verify(&self, token: &str, now_s: i64) -> Option<TokenSubject> {
        let set = self.set.load();
        if let Some((subject, number)) = self.verified.0.get(token) {
            if number == set.number {
                return (subject.exp > now_s).then_some(subject);
            }
        }
        let subject = verify_uncached(&set.keys, token, now_s)?;
        self.verified.0.insert(token.into(), (subject, set.number));
        Some(subject)
    }
}

fn verify_uncached(keys: &KeySet, token: &str, now_s: i64) -> Option<TokenSubject> {
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
    {
        return None;
    }
    // A `kid` names the key; none means the legacy key. An unknown or retired one is refused.
    let key = match header.kid.as_deref() {
        Some(kid) => keys.by_kid(kid)?,
        None => keys.legacy.as_ref()?,
    };
    let signature = Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).ok()?).ok()?;
    // (r, n - s) verifies as well as (r, s), so one token would have two spellings. Every
    // token with a `kid` was signed low-S, so its high-S twin is refused. Tokens without
    // one (the original server's, and this one's before keys had IDs) were signed with
    // whichever S came out, so either form must keep verifying for them.
    if header.kid.is_some() && signature.normalize_s().is_some() {
        return None;
    }
    let signed_len = token.len() - token.rsplit('.').next().map_or(0, str::len) - 1;
    key.verifying
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

    /// A key and the live set of just that key.
    fn one_key() -> (KeyPair, Tokens) {
        let key = KeyPair::generate();
        let tokens = Tokens::new(KeySet::single(key.clone()));
        (key, tokens)
    }

    #[test]
    fn round_trip_and_expiry() {
        let (key, keys) = one_key();
        let token = key.sign(&claims());
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
        let (key, keys) = one_key();
        let token = key.sign(&claims());
        assert!(keys.verify(&token, 1_500).is_some());
        assert!(keys.verify(&token, 1_500).is_some(), "from the cache");
        assert_eq!(
            keys.verify(&token, 2_000),
            None,
            "expiry is checked on a cache hit too"
        );
        let (_, other) = one_key();
        assert_eq!(other.verify(&token, 1_500), None, "caches are per key");
    }

    #[test]
    fn other_key_and_tampering_are_refused() {
        let (key, keys) = one_key();
        let token = key.sign(&claims());
        assert_eq!(one_key().1.verify(&token, 1_500), None);
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap_or_default();
        assert_eq!(keys.verify(&tampered, 1_500), None);
    }

    #[test]
    fn pem_round_trip_in_both_encodings() {
        let (key, keys) = one_key();
        let secret = SecretKey::from(&key.signing);
        let pkcs8 = secret
            .to_pkcs8_pem(LineEnding::LF)
            .map(|p| p.to_string())
            .unwrap_or_default();
        let sec1 = secret
            .to_sec1_pem(LineEnding::LF)
            .map(|p| p.to_string())
            .unwrap_or_default();
        let token = key.sign(&claims());
        for pem in [
            pkcs8,
            format!(
                "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{}",
                sec1.as_str()
            ),
        ] {
            let loaded = KeyPair::from_pem(&pem);
            assert!(
                loaded.is_some_and(|k| Tokens::new(KeySet::single(k))
                    .verify(&token, 1_500)
                    .is_some()),
                "{pem}"
            );
        }
        assert!(keys.verify(&token, 1_500).is_some());
        assert!(KeyPair::from_pem("not a key").is_none());
    }

    /// Signs `header.payload` as given, for tokens this server would never make.
    fn sign_raw(keys: &KeyPair, header: &str, claims: &Claims) -> (String, Signature) {
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
        let (key, keys) = one_key();
        for iat in 1_000..1_040 {
            let token = key.sign(&Claims { iat, ..claims() });
            assert!(keys.verify(&token, 1_500).is_some());
            let other = twin(&token);
            assert_ne!(other, token);
            assert!(
                key.public
                    .verifying
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
        let (key, keys) = one_key();
        let (signed, signature) = sign_raw(&key, LEGACY_HEADER, &claims());
        let legacy = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        assert!(keys.verify(&legacy, 1_500).is_some());
        assert!(keys.verify(&twin(&legacy), 1_500).is_some());
        let header = r#"{"alg":"ES256","typ":"JWT","kid":"0000000000000000"}"#;
        let (signed, signature) = sign_raw(&key, header, &claims());
        let signature = signature.normalize_s().unwrap_or(signature);
        let foreign = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        assert_eq!(keys.verify(&foreign, 1_500), None);
    }

    #[test]
    fn a_header_with_crit_is_refused() {
        let (key, keys) = one_key();
        let header = r#"{"alg":"ES256","typ":"JWT","crit":["exp"]}"#;
        let (signed, signature) = sign_raw(&key, header, &claims());
        let token = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        assert_eq!(keys.verify(&token, 1_500), None);
    }

    #[test]
    fn the_cache_stays_bounded_and_keeps_working_past_its_capacity() {
        let (key, keys) = one_key();
        let tokens: Vec<String> = (0..VERIFIED_CAPACITY * 2)
            .map(|i| {
                key.sign(&Claims {
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
        let a = KeyPair::generate();
        let b = KeyPair::generate();
        assert_eq!(a.fingerprint().len(), 64);
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn a_key_set_verifies_by_kid_and_kid_less_tokens_by_the_legacy_key() {
        let (old, new) = (KeyPair::generate(), KeyPair::generate());
        let tokens = Tokens::new(KeySet::new(
            Some(new.clone()),
            vec![old.public().clone(), new.public().clone()],
            Some(old.public().clone()),
        ));
        let by_old = old.sign(&claims());
        let by_new = tokens.sign(&claims()).unwrap_or_default();
        assert!(by_new.starts_with(&new.header.to_string()));
        let (signed, signature) = sign_raw(&old, LEGACY_HEADER, &claims());
        let kid_less = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        let (signed, signature) = sign_raw(&new, LEGACY_HEADER, &claims());
        let kid_less_by_new = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()));
        for token in [&by_old, &by_new, &kid_less] {
            assert!(tokens.verify(token, 1_500).is_some());
        }
        assert_eq!(
            tokens.verify(&kid_less_by_new, 1_500),
            None,
            "a kid-less token verifies against the legacy key only"
        );
        // The old key retired: its tokens, kid-less ones included, die, even those cached.
        tokens.replace(KeySet::new(
            Some(new.clone()),
            vec![new.public().clone()],
            None,
        ));
        assert_eq!(tokens.verify(&by_old, 1_500), None);
        assert_eq!(tokens.verify(&kid_less, 1_500), None);
        assert!(tokens.verify(&by_new, 1_500).is_some());
        assert_eq!(tokens.jwks().len(), 1);
        assert_eq!(tokens.jwks()[0].kid, new.kid());
    }

    #[test]
    fn a_jwk_has_the_coordinates_of_the_key() {
        let key = KeyPair::generate();
        let jwk = key.public().jwk();
        let point = key.public.verifying.to_encoded_point(false);
        let x = URL_SAFE_NO_PAD.decode(&jwk.x).unwrap_or_default();
        let y = URL_SAFE_NO_PAD.decode(&jwk.y).unwrap_or_default();
        assert_eq!(Some(x), point.x().map(|b| b.to_vec()));
        assert_eq!(Some(y), point.y().map(|b| b.to_vec()));
        assert_eq!(
            (jwk.kty, jwk.crv, jwk.alg, jwk.key_use),
            ("EC", "P-256", "ES256", "sig")
        );
    }

    #[test]
    fn an_empty_set_signs_nothing_and_verifies_nothing() {
        let tokens = Tokens::new(KeySet::default());
        assert_eq!(tokens.sign(&claims()), None);
        let token = KeyPair::generate().sign(&claims());
        assert_eq!(tokens.verify(&token, 1_500), None);
    }
}

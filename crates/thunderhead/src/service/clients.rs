//! Service clients (API.md 2.3): the other services of a deployment, which ask "is this token
//! alive, and whose is it?" through RFC 7662 introspection. A secret is 256 random bits,
//! shown once and stored as its SHA-256: a slow password hash protects guessable secrets, and
//! this one is not guessable, while introspection runs on every request of the services that
//! use it. The stored hash is compared in constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use std::net::IpAddr;

use crate::error::{ApiError, ApiResult};
use crate::ratelimit::{client_key, Class};
use crate::store::ClientRow;

use super::{App, Caller};

/// What introspecting a token found: the live session and its owner, or nothing.
pub type Introspection = Option<Caller>;

/// A client's name: what it gives as the Basic user name, so no `:`, and what an operator
/// types, so short and plain.
pub fn valid_client_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The stored form of a secret: its SHA-256 in lower-case hex.
fn secret_hash(secret: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(digest.len() * 2);
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

impl App {
    /// Creates a client and returns its secret, which exists nowhere else; `None` when a live
    /// client has that name. A revoked client's name can be used again.
    pub async fn create_client(&self, name: &str) -> ApiResult<Option<String>> {
        if !valid_client_name(name) {
            return Err(ApiError::MissingFields(vec!["name"]));
        }
        let mut bytes = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
        let secret = URL_SAFE_NO_PAD.encode(bytes);
        let created = self
            .store
            .create_client(name, &secret_hash(&secret), self.clock.now_ms())
            .await?;
        Ok(created.then_some(secret))
    }

    pub async fn list_clients(&self) -> ApiResult<Vec<ClientRow>> {
        Ok(self.store.list_clients().await?)
    }

    /// Its secret stops working at once, on every instance (each introspection reads it).
    pub async fn revoke_client(&self, name: &str) -> ApiResult<Option<ClientRow>> {
        Ok(self.store.revoke_client(name, self.clock.now_ms()).await?)
    }

    /// RFC 7662: the client must authenticate (else `ClientUnauthorized`, and the attempt
    /// counts against the address's failed-password limit); then a missing token is 400, and
    /// anything but a live session of an unbanned owner is simply inactive. The client and
    /// the session are read in one round trip (one batched query on PostgreSQL).
    pub async fn introspect(
        &self,
        ip: IpAddr,
        client: &str,
        secret: &str,
        token: Option<&str>,
    ) -> ApiResult<Introspection> {
        let now_ms = self.clock.now_ms();
        let now_s = now_ms.div_euclid(1000);
        let subject = token.and_then(|token| self.tokens.verify(token, now_s));
        let (stored, record) = self
            .store
            .introspect(client, subject.map(|s| (s.user, s.session, now_s)))
            .await?;
        let client_ok = valid_client_name(client)
            && stored.is_some_and(|stored| {
                bool::from(stored.as_bytes().ct_eq(secret_hash(secret).as_bytes()))
            });
        if !client_ok {
            // A wrong secret is a wrong password: guessing is limited the same way.
            if let Some(slot) = self
                .reserve(Class::FailedPassword, &client_key(ip).to_string())
                .await?
            {
                slot.keep();
            }
            return Err(ApiError::ClientUnauthorized);
        }
        if token.is_none() {
            return Err(ApiError::MissingFields(vec!["token"]));
        }
        match self.admit(record, now_ms) {
            Ok(caller) => Ok(Some(caller)),
            Err(ApiError::InvalidToken | ApiError::Banned) => Ok(None),
            Err(other) => Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_stored_as_their_sha256() {
        assert_eq!(
            secret_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn client_names_are_plain() {
        for good in ["files", "upload-worker", "admin.tool_2"] {
            assert!(valid_client_name(good), "{good}");
        }
        for bad in ["", "a:b", "with space", "ünï", &"x".repeat(65)] {
            assert!(!valid_client_name(bad), "{bad}");
        }
    }
}

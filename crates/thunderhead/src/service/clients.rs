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

fn secret_hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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

    /// Whether `secret` is the live client `name`'s.
    async fn client_authenticates(&self, name: &str, secret: &str) -> ApiResult<bool> {
        if !valid_client_name(name) {
            return Ok(false);
        }
        let Some(stored) = self.store.client_secret_hash(name).await? else {
            return Ok(false);
        };
        Ok(bool::from(
            stored.as_bytes().ct_eq(secret_hash(secret).as_bytes()),
        ))
    }

    /// RFC 7662: the client must authenticate (else `ClientUnauthorized`, and the attempt
    /// counts against the address's failed-password limit); then a missing token is 400, and
    /// anything but a live session of an unbanned owner is simply inactive. The client and
    /// the token are looked up at once, so the two lookups cost one round trip of time.
    pub async fn introspect(
        &self,
        ip: IpAddr,
        client: &str,
        secret: &str,
        token: Option<&str>,
    ) -> ApiResult<Introspection> {
        let session = async {
            match token {
                Some(token) => Some(self.authenticate(token).await),
                None => None,
            }
        };
        let (client_ok, session) = tokio::join!(self.client_authenticates(client, secret), session);
        if !client_ok? {
            // A wrong secret is a wrong password: guessing is limited the same way.
            if let Some(slot) = self
                .reserve(Class::FailedPassword, &client_key(ip).to_string())
                .await?
            {
                slot.keep();
            }
            return Err(ApiError::ClientUnauthorized);
        }
        let Some(session) = session else {
            return Err(ApiError::MissingFields(vec!["token"]));
        };
        match session {
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
    fn client_names_are_plain() {
        for good in ["files", "upload-worker", "admin.tool_2"] {
            assert!(valid_client_name(good), "{good}");
        }
        for bad in ["", "a:b", "with space", "ünï", &"x".repeat(65)] {
            assert!(!valid_client_name(bad), "{bad}");
        }
    }
}

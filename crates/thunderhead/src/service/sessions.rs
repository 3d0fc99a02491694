//! Sessions: authenticating tokens, listing and revoking. The same operations serve a user
//! acting on their own sessions and staff acting on anyone's; the store says whether the
//! target user exists as it reads or locks their sessions, so a staff call costs no extra
//! round trip to check it.

use crate::domain::token::Claims;
use crate::domain::{AuthRecord, Listing, Page, SessionId, SessionRecord, UserId};
use crate::error::{ApiError, ApiResult};
use crate::store::Lookup;

use super::{App, Caller, Issued};

/// At most this many IDs in one bulk revocation, unknown ones included.
pub const MAX_BULK: usize = 100;

/// The caller a lookup found: none is an invalid token, a banned owner is refused.
pub(super) fn caller_from(record: Option<AuthRecord>) -> ApiResult<Caller> {
    let record = record.ok_or(ApiError::InvalidToken)?;
    if record.banned_at.is_some() {
        return Err(ApiError::Banned);
    }
    Ok(Caller {
        session: record.session,
        staff: record.staff,
        username: record.username,
    })
}

/// The contract's answers for a session that is not there, or a user who is not.
fn found<T>(lookup: Lookup<T>) -> ApiResult<T> {
    match lookup {
        Lookup::Found(value) => Ok(value),
        Lookup::NoSession => Err(ApiError::SessionNotFound),
        Lookup::NoUser => Err(ApiError::InvalidUser),
    }
}

impl App {
    /// A token is good only while its signature verifies, its session row lives and its owner
    /// is not banned. Every check runs on every request; nothing here is cached.
    pub async fn authenticate(&self, token: &str) -> ApiResult<Caller> {
        let now_s = self.clock.now_s();
        let subject = self
            .tokens
            .verify(token, now_s)
            .ok_or(ApiError::InvalidToken)?;
        let record = self
            .store
            .authenticate(subject.user, subject.session, now_s)
            .await?;
        caller_from(record)
    }

    /// Opens a session for `user` and signs its token.
    pub(super) async fn issue(
        &self,
        user: UserId,
        remember: bool,
        name: &str,
    ) -> ApiResult<Issued> {
        let lifetime = if remember {
            self.lifetimes.remembered_s
        } else {
            self.lifetimes.normal_s
        };
        let session = self
            .store
            .create_session(user, self.clock.now_s(), lifetime, name)
            .await?
            .ok_or(ApiError::InvalidUser)?;
        let token = self
            .tokens
            .sign(&Claims {
                sub: session.user_id.to_string(),
                name: session.name.clone(),
                iat: session.id.0,
                exp: session.exp,
            })
            .ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!("the key set has no key to sign with"))
            })?;
        Ok(Issued {
            token,
            exp: session.exp,
            remaining_s: session.exp - self.clock.now_s(),
        })
    }

    /// 404 InvalidUser when the user does not exist.
    pub async fn list_sessions(
        &self,
        user: UserId,
        page: Page,
    ) -> ApiResult<Listing<SessionRecord>> {
        self.store
            .list_sessions(user, self.clock.now_s(), page)
            .await?
            .ok_or(ApiError::InvalidUser)
    }

    pub async fn session(&self, user: UserId, id: SessionId) -> ApiResult<SessionRecord> {
        found(self.store.session(user, id, self.clock.now_s()).await?)
    }

    pub async fn revoke_session(&self, user: UserId, id: SessionId) -> ApiResult<SessionRecord> {
        found(
            self.store
                .revoke_session(user, id, self.clock.now_s())
                .await?,
        )
    }

    /// Revokes the listed sessions in one statement; IDs that match nothing are ignored.
    pub async fn revoke_sessions(&self, user: UserId, ids: &[SessionId]) -> ApiResult<u64> {
        self.store
            .revoke_sessions(user, ids, self.clock.now_s())
            .await?
            .ok_or(ApiError::InvalidUser)
    }

    /// Revokes at once; the rows are purged in the background.
    pub async fn revoke_all_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
    ) -> ApiResult<u64> {
        let revoked = self
            .store
            .revoke_all_sessions(user, keep, self.clock.now_s())
            .await?
            .ok_or(ApiError::InvalidUser)?;
        self.wake_housekeeping();
        Ok(revoked)
    }
}

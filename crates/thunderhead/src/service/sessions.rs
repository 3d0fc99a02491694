//! Sessions: authenticating tokens, listing and revoking. The same operations serve a user
//! acting on their own sessions and staff acting on anyone's; the store says whether the
//! target user exists as it reads or locks their sessions, so a staff call costs no extra
//! round trip to check it.

use std::net::IpAddr;

use crate::domain::token::Claims;
use crate::domain::{AuthRecord, Listing, Page, SessionId, SessionRecord, UserId};
use crate::error::{ApiError, ApiResult};
use crate::store::{Lookup, NewLogin};

use super::{App, Caller, Issued, Origin};

/// At most this many IDs in one bulk revocation, unknown ones included.
pub const MAX_BULK: usize = 100;

/// The caller a lookup found: none is an invalid token, a banned owner is refused.
fn caller_from(record: Option<AuthRecord>) -> ApiResult<Caller> {
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
    /// A token is good only while its signature verifies, its session row lives (and, with
    /// an idle timeout, was used recently enough) and its owner is not banned. Every check
    /// runs on every request; nothing here is cached. `used_from` notes the use (the owner's
    /// request) for `usedAt` and `lastIp`; a service asking about a token passes `None`.
    pub async fn authenticate(&self, token: &str, used_from: Option<IpAddr>) -> ApiResult<Caller> {
        let now_ms = self.clock.now_ms();
        let now_s = now_ms.div_euclid(1000);
        let subject = self
            .tokens
            .verify(token, now_s)
            .ok_or(ApiError::InvalidToken)?;
        let record = self
            .store
            .authenticate(subject.user, subject.session, now_s)
            .await?;
        let mut caller = self.admit(record, now_ms)?;
        match used_from {
            Some(ip) => {
                self.note_use(&caller.session, ip, now_ms);
                // This request is the freshest use there is; no need to look it up.
                caller.session.used_at = Some(now_ms);
                caller.session.last_ip = Some(ip.to_string());
            }
            None => self.overlay_uses(std::slice::from_mut(&mut caller.session)),
        }
        Ok(caller)
    }

    /// The caller a lookup found, if it may pass: none is an invalid token, a session idle
    /// past the idle timeout is one too (measured from its last use as this instance knows
    /// it: a use noted here and not yet written counts), a banned owner is refused.
    pub(super) fn admit(&self, record: Option<AuthRecord>, now_ms: i64) -> ApiResult<Caller> {
        if let (Some(idle), Some(found)) = (self.policy.idle_timeout, &record) {
            let session = &found.session;
            let last = [
                self.pending_use(session),
                session.used_at,
                Some(session.created_at),
            ]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(session.created_at);
            let idle_ms = i64::try_from(idle.as_millis()).unwrap_or(i64::MAX);
            if now_ms.saturating_sub(last) > idle_ms {
                return Err(ApiError::InvalidToken);
            }
        }
        caller_from(record)
    }

    /// Opens a session for `user` and signs its token. Beyond `--max-sessions-per-user`, the
    /// least recently used sessions end in the same transaction.
    pub(super) async fn issue(
        &self,
        user: UserId,
        remember: bool,
        name: &str,
        origin: &Origin,
    ) -> ApiResult<Issued> {
        let lifetime_s = if remember {
            self.lifetimes.remembered_s
        } else {
            self.lifetimes.normal_s
        };
        let ip = origin.ip.to_string();
        let now_ms = self.clock.now_ms();
        let login = NewLogin {
            now_ms,
            lifetime_s,
            name,
            ip: Some(&ip),
            user_agent: origin.user_agent.as_deref(),
            keep_at_most: self.policy.max_sessions_per_user,
        };
        let session = self
            .store
            .create_session(user, &login)
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
            remaining_s: session.exp - now_ms.div_euclid(1000),
        })
    }

    /// 404 InvalidUser when the user does not exist.
    pub async fn list_sessions(
        &self,
        user: UserId,
        page: Page,
    ) -> ApiResult<Listing<SessionRecord>> {
        let mut listing = self
            .store
            .list_sessions(user, self.clock.now_s(), page)
            .await?
            .ok_or(ApiError::InvalidUser)?;
        self.overlay_uses(&mut listing.items);
        Ok(listing)
    }

    pub async fn session(&self, user: UserId, id: SessionId) -> ApiResult<SessionRecord> {
        let mut session = found(self.store.session(user, id, self.clock.now_s()).await?)?;
        self.overlay_uses(std::slice::from_mut(&mut session));
        Ok(session)
    }

    pub async fn revoke_session(&self, user: UserId, id: SessionId) -> ApiResult<SessionRecord> {
        let mut session = found(
            self.store
                .revoke_session(user, id, self.clock.now_s())
                .await?,
        )?;
        self.overlay_uses(std::slice::from_mut(&mut session));
        Ok(session)
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

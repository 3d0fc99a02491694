//! Signing in and signing up, and every check of a password, with their rate limits:
//! successful logins and sign-ups per IP, wrong passwords per IP and per account.

use std::net::IpAddr;

use crate::domain::{SessionId, UserId, UserRecord};
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::{Class, Decision};

use super::{AccountEdit, App, Caller, NewAccount};

pub struct Credentials {
    pub username: String,
    pub password: String,
    pub remember: bool,
    pub session_name: String,
}

pub struct Registration {
    pub username: String,
    pub email: String,
    pub password: String,
    pub repeat_password: String,
    pub remember: bool,
    pub session_name: String,
}

/// A signed token for a new session; `exp` in UNIX seconds.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub exp: i64,
}

impl App {
    /// Rejects with 429 unless one more `class` event fits for `key`; off classes always fit.
    async fn ensure_room(&self, class: Class, key: &str) -> ApiResult<Option<Decision>> {
        match self
            .limiter
            .check(class, key)
            .await
            .map_err(ApiError::Internal)?
        {
            Some(decision) if !decision.allowed => Err(ApiError::RateLimited(decision)),
            other => Ok(other),
        }
    }

    async fn count(&self, class: Class, key: &str) -> ApiResult<Option<Decision>> {
        self.limiter
            .hit(class, key)
            .await
            .map_err(ApiError::Internal)
    }

    /// Verifies a password under the wrong-password limits, counting a miss against both the
    /// client and the account, so guesses are slow from one address and across many.
    pub async fn check_password(
        &self,
        user: &UserRecord,
        password: &str,
        ip: IpAddr,
    ) -> ApiResult<()> {
        let ip_key = ip.to_string();
        let account_key = format!("user:{}", user.id);
        self.ensure_room(Class::FailedPassword, &ip_key).await?;
        self.ensure_room(Class::FailedPassword, &account_key)
            .await?;
        if self.accounts.password_matches(user, password).await? {
            return Ok(());
        }
        self.count(Class::FailedPassword, &ip_key).await?;
        self.count(Class::FailedPassword, &account_key).await?;
        Err(ApiError::InvalidPassword)
    }

    /// `POST /user/session`. Returns the login limit's state for the response headers.
    /// Takes the body as parsed, or why it could not be, because the login limit is checked
    /// before the body's fields.
    pub async fn login(
        &self,
        credentials: ApiResult<Credentials>,
        ip: IpAddr,
    ) -> ApiResult<(Issued, Option<Decision>)> {
        let ip_key = ip.to_string();
        self.ensure_room(Class::Login, &ip_key).await?;
        let credentials = credentials?;
        self.ensure_room(Class::FailedPassword, &ip_key).await?;
        let Some(user) = self
            .accounts
            .find_by_username(&credentials.username)
            .await?
        else {
            // An unknown name is a wrong guess too, or names could be probed without limit.
            self.count(Class::FailedPassword, &ip_key).await?;
            return Err(ApiError::InvalidUser);
        };
        self.check_password(&user, &credentials.password, ip)
            .await?;
        if user.banned_at.is_some() {
            return Err(ApiError::Banned);
        }
        let issued = self
            .issue(user.id, credentials.remember, &credentials.session_name)
            .await?;
        let decision = self.count(Class::Login, &ip_key).await?;
        Ok((issued, decision))
    }

    /// `POST /user`: creates the account and its first session.
    pub async fn register(
        &self,
        form: ApiResult<Registration>,
        ip: IpAddr,
    ) -> ApiResult<(Issued, Option<Decision>)> {
        let ip_key = ip.to_string();
        self.ensure_room(Class::Register, &ip_key).await?;
        let form = form?;
        if form.password != form.repeat_password {
            return Err(ApiError::PasswordMismatch);
        }
        let user = self
            .accounts
            .create(NewAccount {
                username: form.username,
                email: form.email,
                password: form.password,
                staff: false,
            })
            .await?;
        let issued = self
            .issue(user.id, form.remember, &form.session_name)
            .await?;
        let decision = self.count(Class::Register, &ip_key).await?;
        Ok((issued, decision))
    }

    /// `PATCH /user`: the current password authorises the edit; a new password ends every
    /// other session.
    pub async fn edit_own_account(
        &self,
        caller: &Caller,
        current_password: &str,
        edit: AccountEdit,
        ip: IpAddr,
    ) -> ApiResult<UserRecord> {
        let user = self.accounts.get(caller.user()).await?;
        self.check_password(&user, current_password, ip).await?;
        self.edit_account(user.id, edit, Some(caller.session.id))
            .await
    }

    /// `DELETE /user`: the caller confirms with their username and password.
    pub async fn delete_own_account(
        &self,
        caller: &Caller,
        username: &str,
        password: &str,
        ip: IpAddr,
    ) -> ApiResult<UserRecord> {
        let user = self.accounts.get(caller.user()).await?;
        if !username.eq_ignore_ascii_case(&user.username) {
            return Err(ApiError::InvalidUserUnauthorized);
        }
        self.check_password(&user, password, ip).await?;
        self.accounts.delete(user.id).await
    }

    /// `PATCH /user/:id` by staff. A new password ends the target's sessions, except the
    /// caller's own when staff edit themselves.
    pub async fn edit_any_account(
        &self,
        caller: &Caller,
        target: UserId,
        edit: AccountEdit,
    ) -> ApiResult<UserRecord> {
        let keep: Option<SessionId> = (target == caller.user()).then_some(caller.session.id);
        self.edit_account(target, edit, keep).await
    }

    /// Applies an edit; a new password revokes the other sessions, whose rows the background
    /// purge is then woken to delete.
    async fn edit_account(
        &self,
        id: UserId,
        edit: AccountEdit,
        keep: Option<SessionId>,
    ) -> ApiResult<UserRecord> {
        let changes_password = edit.password.is_some();
        let user = self.accounts.edit(id, edit, keep).await?;
        if changes_password {
            self.housekeeping.notify_one();
        }
        Ok(user)
    }
}

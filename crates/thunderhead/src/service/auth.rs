//! Signing in and signing up, and every check of a password, with their rate limits:
//! successful logins and sign-ups per IP, wrong passwords per IP and per account. Each limit
//! is reserved before the work it guards and given back where the contract says the attempt
//! does not count (`ratelimit::Reservation`).

use std::net::IpAddr;

use crate::domain::UserRecord;
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::{client_key, Class, Decision, Reservation};

use super::{AccountEdit, App, Caller, NewAccount, Origin};

pub struct Credentials {
    pub username: String,
    pub password: String,
    pub remember: bool,
    pub session_name: String,
    pub user_agent: Option<String>,
}

pub struct Registration {
    pub username: String,
    pub email: String,
    pub password: String,
    pub repeat_password: String,
    pub remember: bool,
    pub session_name: String,
    pub user_agent: Option<String>,
}

/// A signed token for a new session; `exp` in UNIX seconds.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub exp: i64,
    /// Seconds from now until `exp`: a cookie's `Max-Age`.
    pub remaining_s: i64,
}

/// A login or sign-up let in by its per-IP limit. The unit of budget it holds is spent when
/// the attempt succeeds and given back when it fails, so only successes count, as the contract
/// says; holding it while the password hashes is what keeps 10 simultaneous logins from all
/// passing a limit of 1.
pub struct Admission {
    slot: Option<Reservation>,
}

impl Admission {
    /// Passes `result` through, giving the slot back first if it is an error (a body that
    /// does not parse, say), so the next attempt finds it free.
    pub async fn or_release<T>(&mut self, result: ApiResult<T>) -> ApiResult<T> {
        if result.is_err() {
            release(self.slot.take()).await;
        }
        result
    }

    /// Spends the slot if `outcome` is a success, gives it back otherwise; returns the
    /// limit's state for the response headers.
    async fn settle<T>(mut self, outcome: &ApiResult<T>) -> Option<Decision> {
        let slot = self.slot.take()?;
        let decision = slot.decision();
        if outcome.is_ok() {
            slot.keep();
        } else {
            release(Some(slot)).await;
        }
        Some(decision)
    }
}

/// Spends a unit of budget: the attempt counts.
fn spend(slot: Option<Reservation>) {
    if let Some(slot) = slot {
        slot.keep();
    }
}

/// Gives a unit of budget back: the attempt does not count.
async fn release(slot: Option<Reservation>) {
    if let Some(slot) = slot {
        slot.release().await;
    }
}

impl App {
    pub(super) async fn reserve(&self, class: Class, key: &str) -> ApiResult<Option<Reservation>> {
        Ok(self.limiter.reserve(class, key).await?)
    }

    /// The first step of `POST /user/session`: the per-IP login limit, checked before the body.
    pub async fn admit_login(&self, ip: IpAddr) -> ApiResult<Admission> {
        let slot = self
            .reserve(Class::Login, &client_key(ip).to_string())
            .await?;
        Ok(Admission { slot })
    }

    /// The first step of `POST /user`: the per-IP sign-up limit, checked before the body.
    pub async fn admit_registration(&self, ip: IpAddr) -> ApiResult<Admission> {
        let slot = self
            .reserve(Class::Register, &client_key(ip).to_string())
            .await?;
        Ok(Admission { slot })
    }

    /// Verifies a password under the wrong-password limits. An attempt takes a unit of both
    /// the client's and the account's budget before the hash runs, so concurrent guesses can
    /// never check more passwords than the limit; a correct password gives both back.
    pub async fn check_password(
        &self,
        user: &UserRecord,
        password: &str,
        ip: IpAddr,
    ) -> ApiResult<()> {
        let by_ip = self
            .reserve(Class::FailedPassword, &client_key(ip).to_string())
            .await?;
        self.check_password_from(user, password, by_ip).await
    }

    /// `check_password` with the client's unit already taken.
    async fn check_password_from(
        &self,
        user: &UserRecord,
        password: &str,
        by_ip: Option<Reservation>,
    ) -> ApiResult<()> {
        let by_account = match self
            .reserve(Class::FailedPassword, &format!("user:{}", user.id))
            .await
        {
            Ok(slot) => slot,
            Err(err) => {
                release(by_ip).await;
                return Err(err);
            }
        };
        match self.password_matches(user, password).await {
            Ok(false) => {
                // A wrong guess: both units stay spent.
                spend(by_ip);
                spend(by_account);
                Err(ApiError::InvalidPassword)
            }
            outcome => {
                // Right, or not checked at all (overloaded): nothing was guessed.
                release(by_ip).await;
                release(by_account).await;
                outcome.map(drop)
            }
        }
    }

    /// `POST /user/session`, once admitted. Returns the login limit's state for the headers.
    pub async fn login(
        &self,
        admission: Admission,
        credentials: Credentials,
        ip: IpAddr,
    ) -> ApiResult<(Issued, Option<Decision>)> {
        let outcome = self.sign_in(credentials, ip).await;
        let decision = admission.settle(&outcome).await;
        outcome.map(|issued| (issued, decision))
    }

    /// Order: wrong-password limit (per IP) -> user -> wrong-password limit (per account) ->
    /// password -> banned. The ban is only revealed to someone who knows the password.
    async fn sign_in(&self, credentials: Credentials, ip: IpAddr) -> ApiResult<Issued> {
        let by_ip = self
            .reserve(Class::FailedPassword, &client_key(ip).to_string())
            .await?;
        let Some(user) = self.find_account(&credentials.username).await? else {
            // An unknown name is a wrong guess too, or names could be probed without limit.
            spend(by_ip);
            return Err(ApiError::InvalidUser);
        };
        self.check_password_from(&user, &credentials.password, by_ip)
            .await?;
        if user.banned_at.is_some() {
            return Err(ApiError::Banned);
        }
        let origin = Origin::new(ip, credentials.user_agent.as_deref());
        self.issue(
            user.id,
            credentials.remember,
            &credentials.session_name,
            &origin,
        )
        .await
    }

    /// `POST /user`, once admitted: creates the account and its first session.
    pub async fn register(
        &self,
        admission: Admission,
        form: Registration,
        ip: IpAddr,
    ) -> ApiResult<(Issued, Option<Decision>)> {
        let outcome = self.create_account_and_session(form, ip).await;
        let decision = admission.settle(&outcome).await;
        outcome.map(|issued| (issued, decision))
    }

    async fn create_account_and_session(
        &self,
        form: Registration,
        ip: IpAddr,
    ) -> ApiResult<Issued> {
        if form.password != form.repeat_password {
            return Err(ApiError::PasswordMismatch);
        }
        let user = self
            .create_account(NewAccount {
                username: form.username,
                email: form.email,
                password: form.password,
                staff: false,
            })
            .await?;
        let origin = Origin::new(ip, form.user_agent.as_deref());
        self.issue(user.id, form.remember, &form.session_name, &origin)
            .await
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
        let user = self.account(caller.user()).await?;
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
        let user = self.account(caller.user()).await?;
        if !username.eq_ignore_ascii_case(&user.username) {
            return Err(ApiError::InvalidUserUnauthorized);
        }
        self.check_password(&user, password, ip).await?;
        self.delete_account(user.id).await
    }
}

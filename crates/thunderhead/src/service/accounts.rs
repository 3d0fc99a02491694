//! Accounts: creation, edits, bans, deletion, for the HTTP API and the CLI alike, so both
//! apply the same validation and hashing, and wake the same housekeeping.

use crate::domain::{validate, BanChange, Listing, Page, SessionId, UserId, UserRecord};
use crate::error::{ApiError, ApiResult};
use crate::store::{NewUser, PasswordChange, UserChanges};

use super::{App, Caller};

/// The longest staff search text (API.md 2.1).
pub const MAX_SEARCH_CHARS: usize = 100;

/// A new account as given by a person; validated here.
pub struct NewAccount {
    pub username: String,
    pub email: String,
    pub password: String,
    pub staff: bool,
}

/// Changes to an account; `None` leaves a field alone.
#[derive(Default)]
pub struct AccountEdit {
    pub username: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    pub staff: Option<bool>,
}

impl App {
    pub async fn create_account(&self, account: NewAccount) -> ApiResult<UserRecord> {
        let mut bad = Vec::new();
        let username = validate::username(&account.username);
        if username.is_none() {
            bad.push("username");
        }
        let email = validate::email(&account.email);
        if email.is_none() {
            bad.push("email");
        }
        if !validate::password(&account.password) {
            bad.push("password");
        }
        let (Some(username), Some(email), true) = (username, email, bad.is_empty()) else {
            return Err(ApiError::MissingFields(bad));
        };
        let password_hash = self.hasher.hash(account.password).await?;
        let user = NewUser {
            username,
            email,
            password_hash,
            staff: account.staff,
        };
        Ok(self.store.create_user(&user, self.clock.now_ms()).await?)
    }

    pub async fn account(&self, id: UserId) -> ApiResult<UserRecord> {
        self.store
            .user_by_id(id)
            .await?
            .ok_or(ApiError::InvalidUser)
    }

    /// Usernames are matched case-insensitively; one that cannot exist is simply not found.
    pub async fn find_account(&self, username: &str) -> ApiResult<Option<UserRecord>> {
        match validate::username(username) {
            Some(name) => Ok(self.store.user_by_username(&name).await?),
            None => Ok(None),
        }
    }

    pub async fn list_accounts(&self, page: Page) -> ApiResult<Listing<UserRecord>> {
        Ok(self.store.list_users(page).await?)
    }

    /// Staff search: accounts whose username or email contains `text`, case-insensitively,
    /// newest first. `text` is 1 to 100 characters.
    pub async fn search_accounts(&self, text: &str, page: Page) -> ApiResult<Listing<UserRecord>> {
        if !(1..=MAX_SEARCH_CHARS).contains(&text.chars().count()) {
            return Err(ApiError::MissingFields(vec!["search"]));
        }
        Ok(self.store.search_users(&text.to_lowercase(), page).await?)
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

    /// Applies an edit. A new password ends every session of the account but `keep`, in the
    /// same transaction, and wakes the housekeeping to purge their rows.
    pub async fn edit_account(
        &self,
        id: UserId,
        edit: AccountEdit,
        keep: Option<SessionId>,
    ) -> ApiResult<UserRecord> {
        let mut bad = Vec::new();
        let username = edit.username.as_deref().map(validate::username);
        if matches!(username, Some(None)) {
            bad.push("username");
        }
        let email = edit.email.as_deref().map(validate::email);
        if matches!(email, Some(None)) {
            bad.push("email");
        }
        if edit
            .password
            .as_deref()
            .is_some_and(|p| !validate::password(p))
        {
            bad.push("password");
        }
        if !bad.is_empty() {
            return Err(ApiError::MissingFields(bad));
        }
        let changes_password = edit.password.is_some();
        let password = match edit.password {
            Some(password) => {
                // Check the target before paying for a hash.
                self.account(id).await?;
                Some(PasswordChange {
                    hash: self.hasher.hash(password).await?,
                    keep,
                })
            }
            None => None,
        };
        let changes = UserChanges {
            username: username.flatten(),
            email: email.flatten(),
            staff: edit.staff,
            password,
        };
        let user = self
            .store
            .update_user(id, &changes, self.clock.now_ms())
            .await?
            .ok_or(ApiError::InvalidUser)?;
        if changes_password {
            self.wake_housekeeping();
        }
        Ok(user)
    }

    pub async fn change_ban(&self, id: UserId, change: BanChange) -> ApiResult<UserRecord> {
        self.store
            .change_ban(id, change, self.clock.now_ms())
            .await?
            .ok_or(ApiError::InvalidUser)
    }

    /// Deletes the account and, with it, its sessions.
    pub async fn delete_account(&self, id: UserId) -> ApiResult<UserRecord> {
        self.store
            .delete_user(id)
            .await?
            .ok_or(ApiError::InvalidUser)
    }

    pub async fn delete_accounts(&self, ids: &[UserId]) -> ApiResult<u64> {
        Ok(self.store.delete_users(ids).await?)
    }

    /// True when `password` is the account's password. A hash made under other Argon2
    /// parameters than the configured ones (the cost was raised, say) is replaced by a new one
    /// while the password is at hand; that failing costs nothing but a line in the log.
    pub(super) async fn password_matches(
        &self,
        user: &UserRecord,
        password: &str,
    ) -> ApiResult<bool> {
        let verified = self
            .hasher
            .verify(password.to_owned(), user.password_hash.clone())
            .await?;
        if verified.matches && verified.outdated {
            if let Err(err) = self.rehash(user, password).await {
                tracing::warn!(user = %user.id, error = %err, "could not rehash an outdated password hash; will retry at the next login");
            }
        }
        Ok(verified.matches)
    }

    async fn rehash(&self, user: &UserRecord, password: &str) -> ApiResult<()> {
        let hash = self.hasher.hash(password.to_owned()).await?;
        // Only over the hash just checked: a password changed meanwhile stays changed.
        if self
            .store
            .replace_password_hash(user.id, &user.password_hash, &hash)
            .await?
        {
            tracing::info!(user = %user.id, "rehashed a password with the configured Argon2 cost");
        }
        Ok(())
    }
}

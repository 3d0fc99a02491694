//! Accounts: creation, edits, bans, deletion. Shared by the HTTP API and the CLI, so both
//! apply the same validation and hashing.

use std::sync::Arc;

use crate::clock::Clock;
use crate::domain::password::PasswordHasher;
use crate::domain::{validate, Listing, Page, SessionId, UserId, UserRecord};
use crate::error::{ApiError, ApiResult};
use crate::store::{BanChange, NewUser, PasswordChange, Store, UserChanges};

#[derive(Clone)]
pub struct Accounts {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    hasher: PasswordHasher,
}

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

impl Accounts {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, hasher: PasswordHasher) -> Self {
        Self {
            store,
            clock,
            hasher,
        }
    }

    pub async fn create(&self, account: NewAccount) -> ApiResult<UserRecord> {
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

    pub async fn get(&self, id: UserId) -> ApiResult<UserRecord> {
        self.store
            .user_by_id(id)
            .await?
            .ok_or(ApiError::InvalidUser)
    }

    /// Usernames are matched case-insensitively; one that cannot exist is simply not found.
    pub async fn find_by_username(&self, username: &str) -> ApiResult<Option<UserRecord>> {
        match validate::username(username) {
            Some(name) => Ok(self.store.user_by_username(&name).await?),
            None => Ok(None),
        }
    }

    pub async fn list(&self, page: Page) -> ApiResult<Listing<UserRecord>> {
        Ok(self.store.list_users(page).await?)
    }

    /// True when `password` is the account's password. A hash made under other Argon2
    /// parameters than the configured ones (the cost was raised, say) is replaced by a new one
    /// while the password is at hand; that failing costs nothing but a line in the log.
    pub async fn password_matches(&self, user: &UserRecord, password: &str) -> ApiResult<bool> {
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

    /// Applies an edit. A new password ends every session of the account but `keep`.
    pub async fn edit(
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
        // Check the target before paying for a hash.
        self.get(id).await?;
        let password = match edit.password {
            Some(password) => Some(PasswordChange {
                hash: self.hasher.hash(password).await?,
                keep,
            }),
            None => None,
        };
        let changes = UserChanges {
            username: username.flatten(),
            email: email.flatten(),
            staff: edit.staff,
            password,
        };
        self.store
            .update_user(id, &changes, self.clock.now_ms())
            .await?
            .ok_or(ApiError::InvalidUser)
    }

    pub async fn change_ban(&self, id: UserId, change: BanChange) -> ApiResult<UserRecord> {
        self.store
            .change_ban(id, change, self.clock.now_ms())
            .await?
            .ok_or(ApiError::InvalidUser)
    }

    pub async fn delete(&self, id: UserId) -> ApiResult<UserRecord> {
        self.store
            .delete_user(id)
            .await?
            .ok_or(ApiError::InvalidUser)
    }

    pub async fn delete_many(&self, ids: &[UserId]) -> ApiResult<u64> {
        Ok(self.store.delete_users(ids).await?)
    }
}

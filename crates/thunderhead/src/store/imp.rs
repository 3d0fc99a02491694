//! The single body of `Store` methods, stamped out once per backend by `impl_store!`. The SQL
//! is in `sql.rs` and the logic around it exists once; what a backend must supply is stated
//! by `StoreHooks`, which the generated bodies call and nothing else. (A macro rather than a
//! generic impl because sqlx's per-database bounds for every bound type would outweigh the
//! bodies themselves.)

use async_trait::async_trait;

use crate::domain::{AuthRecord, Listing, Page, SessionId, SessionRecord, UserId};

use super::StoreResult;

/// A row of `sql::LIST_SESSIONS_COUNTED`: a session and the user's total beside it.
#[derive(sqlx::FromRow)]
pub(crate) struct CountedSession {
    #[sqlx(flatten)]
    pub session: SessionRecord,
    pub total: i64,
}

/// What each backend provides to the shared method bodies.
#[async_trait]
pub(super) trait StoreHooks: Send + Sync {
    type Db: sqlx::Database;

    /// The pool for writes and for reads without a path of their own.
    fn pool(&self) -> &sqlx::Pool<Self::Db>;

    /// Held for the whole of a write: SQLite queues its writers here in order, PostgreSQL
    /// lets them run at once (row locks order them where it matters) and returns `None`.
    async fn writer(&self) -> Option<tokio::sync::MutexGuard<'_, ()>>;

    /// The lookup every authenticated request makes (`sql::AUTHENTICATE`).
    async fn authenticate_row(
        &self,
        user: UserId,
        id: SessionId,
        now_s: i64,
    ) -> StoreResult<Option<AuthRecord>>;

    /// `Store::introspect`: asked on every introspection, so it gets the same fast path as
    /// `authenticate_row`.
    async fn introspect_row(
        &self,
        client: &str,
        session: Option<super::SessionKey>,
    ) -> StoreResult<(Option<String>, Option<AuthRecord>)>;

    /// Staff search's two statements (count, page) and the argument `$1` they take for `text`
    /// (lower case already): the one query whose index differs per backend.
    fn search_users_sql(&self, text: &str) -> (&'static [&'static str; 2], String);

    /// The statements `Store::reserve_user_ids` runs, each taking the ID as `$1`: the ID
    /// counter is the one thing the backends keep differently.
    fn reserve_user_ids_statements(&self) -> &'static [&'static str];

    /// One page of live sessions and their count; `None` when the user does not exist.
    async fn list_rows(
        &self,
        user: UserId,
        now_s: i64,
        page: Page,
    ) -> StoreResult<Option<Listing<SessionRecord>>>;
}

macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use $crate::domain::import::ImportedAccount;
            use $crate::domain::{
                AuthRecord, BanChange, Listing, Page, SessionId, SessionRecord, UserId, UserRecord,
            };
            use $crate::store::imp::StoreHooks;
            use $crate::store::{
                map_unique, sql, ClientRow, ImportOutcome, KeyRow, Lookup, NewSession, NewUser,
                Retirement, Store, StoreResult, UserChanges,
            };

            impl $store {
                /// One page of live sessions and their count, through `pool`: one round trip
                /// when the page has rows, which carry the total.
                async fn list_rows_pooled(
                    pool: &sqlx::Pool<$db>,
                    user: UserId,
                    now_s: i64,
                    page: Page,
                ) -> StoreResult<Option<Listing<SessionRecord>>> {
                    let rows: Vec<$crate::store::imp::CountedSession> =
                        sqlx::query_as(sql::LIST_SESSIONS_COUNTED)
                            .bind(user.0)
                            .bind(now_s)
                            .bind(i64::from(page.limit))
                            .bind(page.offset as i64)
                            .fetch_all(pool)
                            .await?;
                    // Rows mean the user exists; an empty page asks, and learns it with the count.
                    let count: i64 = match rows.first() {
                        Some(row) => row.total,
                        None => match sqlx::query_scalar(sql::COUNT_SESSIONS)
                            .bind(user.0)
                            .bind(now_s)
                            .fetch_optional(pool)
                            .await?
                        {
                            Some(count) => count,
                            None => return Ok(None),
                        },
                    };
                    let items = rows.into_iter().map(|row| row.session).collect();
                    Ok(Some(Listing {
                        count: count.max(0) as u64,
                        items,
                    }))
                }

                /// Takes the user's row lock and reads `(session_count, revoked_below, kept_session)`.
                async fn lock_sessions(
                    conn: &mut <$db as sqlx::Database>::Connection,
                    user: UserId,
                ) -> StoreResult<Option<(i64, i64, Option<i64>)>> {
                    Ok(sqlx::query_as(sql::LOCK_USER_SESSIONS)
                        .bind(user.0)
                        .fetch_optional(conn)
                        .await?)
                }

                /// Revokes every session of `user` but `keep` by moving the watermark: a constant
                /// number of statements, however many sessions there are. Returns how many live
                /// sessions were revoked.
                async fn revoke_all_in(
                    conn: &mut <$db as sqlx::Database>::Connection,
                    user: UserId,
                    keep: Option<SessionId>,
                    now_s: i64,
                ) -> StoreResult<Option<u64>> {
                    let Some((count, below, kept)) = Self::lock_sessions(&mut *conn, user).await?
                    else {
                        return Ok(None);
                    };
                    let expired: i64 = sqlx::query_scalar(sql::COUNT_EXPIRED_VALID)
                        .bind(user.0)
                        .bind(now_s)
                        .bind(below)
                        .bind(kept)
                        .fetch_one(&mut *conn)
                        .await?;
                    let keep = match keep {
                        Some(keep) => {
                            let live: i64 = sqlx::query_scalar(sql::IS_LIVE_VALID)
                                .bind(user.0)
                                .bind(keep.0)
                                .bind(now_s)
                                .bind(below)
                                .bind(kept)
                                .fetch_one(&mut *conn)
                                .await?;
                            (live > 0).then_some(keep.0)
                        }
                        None => None,
                    };
                    let remaining = i64::from(keep.is_some());
                    sqlx::query(sql::REVOKE_ALL)
                        .bind(user.0)
                        .bind(keep)
                        .bind(remaining)
                        .execute(&mut *conn)
                        .await?;
                    Ok(Some((count - expired - remaining).max(0) as u64))
                }

                /// `Store::insert_sessions` inside the caller's transaction.
                async fn insert_sessions_in(
                    conn: &mut <$db as sqlx::Database>::Connection,
                    user: UserId,
                    sessions: &[NewSession],
                ) -> StoreResult<Option<u64>> {
                    // Rows per statement: three parameters each, well inside both backends' limits.
                    const BATCH: usize = 500;
                    let Some((_, below, _)) = Self::lock_sessions(&mut *conn, user).await? else {
                        return Ok(None);
                    };
                    // Below the watermark a session is revoked already; inserting it would count a
                    // row no read can see.
                    let sessions: Vec<&NewSession> =
                        sessions.iter().filter(|s| s.iat >= below).collect();
                    let mut inserted = 0u64;
                    for chunk in sessions.chunks(BATCH) {
                        let statement = sql::insert_sessions(chunk.len());
                        let mut query = sqlx::query(&statement).bind(user.0);
                        for session in chunk {
                            query = query
                                .bind(session.iat)
                                .bind(session.exp)
                                .bind(&session.name);
                        }
                        inserted += query.execute(&mut *conn).await?.rows_affected();
                    }
                    let last = sessions.iter().map(|s| s.iat).max().unwrap_or(0);
                    sqlx::query(sql::COUNT_INSERTED_SESSIONS)
                        .bind(user.0)
                        .bind(last)
                        .bind(inserted as i64)
                        .execute(&mut *conn)
                        .await?;
                    Ok(Some(inserted))
                }

                /// Why a session lookup found nothing: the session, or the whole user.
                async fn missing<T>(&self, user: UserId) -> StoreResult<Lookup<T>> {
                    let exists: Option<i64> = sqlx::query_scalar(sql::USER_EXISTS)
                        .bind(user.0)
                        .fetch_optional(self.pool())
                        .await?;
                    Ok(if exists.is_some() {
                        Lookup::NoSession
                    } else {
                        Lookup::NoUser
                    })
                }
            }

            #[async_trait::async_trait]
            impl Store for $store {
                async fn create_user(
                    &self,
                    user: &NewUser,
                    now_ms: i64,
                ) -> StoreResult<UserRecord> {
                    let _writer = self.writer().await;
                    sqlx::query_as(sql::INSERT_USER)
                        .bind(&user.username)
                        .bind(&user.email)
                        .bind(user.email.to_lowercase())
                        .bind(&user.password_hash)
                        .bind(user.staff)
                        .bind(now_ms)
                        .fetch_one(self.pool())
                        .await
                        .map_err(map_unique)
                }

                async fn user_by_id(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
                    Ok(sqlx::query_as(sql::USER_BY_ID)
                        .bind(id.0)
                        .fetch_optional(self.pool())
                        .await?)
                }

                async fn user_by_username(
                    &self,
                    username: &str,
                ) -> StoreResult<Option<UserRecord>> {
                    Ok(sqlx::query_as(sql::USER_BY_USERNAME)
                        .bind(username)
                        .fetch_optional(self.pool())
                        .await?)
                }

                async fn list_users(&self, page: Page) -> StoreResult<Listing<UserRecord>> {
                    let count: i64 = sqlx::query_scalar(sql::COUNT_USERS)
                        .fetch_one(self.pool())
                        .await?;
                    let items = sqlx::query_as(sql::LIST_USERS)
                        .bind(i64::from(page.limit))
                        .bind(page.offset as i64)
                        .fetch_all(self.pool())
                        .await?;
                    Ok(Listing {
                        count: count.max(0) as u64,
                        items,
                    })
                }

                async fn search_users(
                    &self,
                    text: &str,
                    page: Page,
                ) -> StoreResult<Listing<UserRecord>> {
                    let ([count_sql, page_sql], argument) = self.search_users_sql(text);
                    let count: i64 = sqlx::query_scalar(count_sql)
                        .bind(&argument)
                        .fetch_one(self.pool())
                        .await?;
                    let items = sqlx::query_as(page_sql)
                        .bind(&argument)
                        .bind(i64::from(page.limit))
                        .bind(page.offset as i64)
                        .fetch_all(self.pool())
                        .await?;
                    Ok(Listing {
                        count: count.max(0) as u64,
                        items,
                    })
                }

                async fn update_user(
                    &self,
                    id: UserId,
                    changes: &UserChanges,
                    now_ms: i64,
                ) -> StoreResult<Option<UserRecord>> {
                    let _writer = self.writer().await;
                    let mut tx = self.pool().begin().await?;
                    let updated: Option<UserRecord> = sqlx::query_as(sql::UPDATE_USER)
                        .bind(id.0)
                        .bind(changes.username.as_deref())
                        .bind(changes.email.as_deref())
                        .bind(changes.email.as_deref().map(str::to_lowercase))
                        .bind(changes.password.as_ref().map(|p| p.hash.as_str()))
                        .bind(changes.staff)
                        .bind(now_ms)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(map_unique)?;
                    if let (Some(_), Some(change)) = (&updated, &changes.password) {
                        // Accounts change rarely; the expiry cut-off only affects the count returned.
                        Self::revoke_all_in(&mut *tx, id, change.keep, now_ms.div_euclid(1000))
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(updated)
                }

                async fn replace_password_hash(
                    &self,
                    id: UserId,
                    old: &str,
                    new: &str,
                ) -> StoreResult<bool> {
                    let _writer = self.writer().await;
                    Ok(sqlx::query(sql::REPLACE_PASSWORD_HASH)
                        .bind(id.0)
                        .bind(old)
                        .bind(new)
                        .execute(self.pool())
                        .await?
                        .rows_affected()
                        > 0)
                }

                async fn change_ban(
                    &self,
                    id: UserId,
                    change: BanChange,
                    now_ms: i64,
                ) -> StoreResult<Option<UserRecord>> {
                    let _writer = self.writer().await;
                    let statement = match change {
                        BanChange::Ban => sql::BAN_USER,
                        BanChange::Unban => sql::UNBAN_USER,
                        BanChange::Toggle => sql::TOGGLE_BAN,
                    };
                    Ok(sqlx::query_as(statement)
                        .bind(id.0)
                        .bind(now_ms)
                        .fetch_optional(self.pool())
                        .await?)
                }

                async fn delete_user(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
                    let _writer = self.writer().await;
                    Ok(sqlx::query_as(sql::DELETE_USER)
                        .bind(id.0)
                        .fetch_optional(self.pool())
                        .await?)
                }

                async fn delete_users(&self, ids: &[UserId]) -> StoreResult<u64> {
                    let _writer = self.writer().await;
                    if ids.is_empty() {
                        return Ok(0);
                    }
                    let statement =
                        format!("{}{}", sql::DELETE_USERS_PREFIX, sql::in_list(1, ids.len()));
                    let mut query = sqlx::query(&statement);
                    for id in ids {
                        query = query.bind(id.0);
                    }
                    Ok(query.execute(self.pool()).await?.rows_affected())
                }

                async fn create_session(
                    &self,
                    user: UserId,
                    login: &$crate::store::NewLogin<'_>,
                ) -> StoreResult<Option<SessionRecord>> {
                    let _writer = self.writer().await;
                    let now_s = login.now_ms.div_euclid(1000);
                    // The UPDATE comes first so the transaction takes its write lock at once.
                    let mut tx = self.pool().begin().await?;
                    let iat: Option<i64> = sqlx::query_scalar(sql::ALLOCATE_SESSION_ID)
                        .bind(user.0)
                        .bind(now_s)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(iat) = iat else {
                        return Ok(None);
                    };
                    let session = sqlx::query_as(sql::INSERT_SESSION)
                        .bind(user.0)
                        .bind(iat)
                        // Exactly the lifetime from the session's own `iat`, which may be later than now.
                        .bind(iat.saturating_add(login.lifetime_s))
                        .bind(login.name)
                        .bind(login.now_ms)
                        .bind(login.ip)
                        .bind(login.user_agent)
                        .fetch_one(&mut *tx)
                        .await?;
                    if let Some(cap) = login.keep_at_most {
                        // The row lock ALLOCATE_SESSION_ID took orders this user's logins, so
                        // each counts what the previous one left.
                        let live: i64 = sqlx::query_scalar(sql::COUNT_SESSIONS)
                            .bind(user.0)
                            .bind(now_s)
                            .fetch_one(&mut *tx)
                            .await?;
                        let excess = live - i64::from(cap);
                        if excess > 0 {
                            let ended = sqlx::query(sql::DELETE_LEAST_RECENTLY_USED)
                                .bind(user.0)
                                .bind(now_s)
                                .bind(iat)
                                .bind(excess)
                                .execute(&mut *tx)
                                .await?
                                .rows_affected();
                            sqlx::query(sql::UNCOUNT_SESSIONS)
                                .bind(user.0)
                                .bind(ended as i64)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                    tx.commit().await?;
                    Ok(Some(session))
                }

                async fn authenticate(
                    &self,
                    user: UserId,
                    id: SessionId,
                    now_s: i64,
                ) -> StoreResult<Option<AuthRecord>> {
                    self.authenticate_row(user, id, now_s).await
                }

                async fn session(
                    &self,
                    user: UserId,
                    id: SessionId,
                    now_s: i64,
                ) -> StoreResult<Lookup<SessionRecord>> {
                    let found: Option<SessionRecord> = sqlx::query_as(sql::SESSION)
                        .bind(user.0)
                        .bind(id.0)
                        .bind(now_s)
                        .fetch_optional(self.pool())
                        .await?;
                    match found {
                        Some(session) => Ok(Lookup::Found(session)),
                        // Only a miss pays for telling a missing session from a missing user.
                        None => Ok(self.missing(user).await?),
                    }
                }

                async fn list_sessions(
                    &self,
                    user: UserId,
                    now_s: i64,
                    page: Page,
                ) -> StoreResult<Option<Listing<SessionRecord>>> {
                    self.list_rows(user, now_s, page).await
                }

                async fn revoke_session(
                    &self,
                    user: UserId,
                    id: SessionId,
                    now_s: i64,
                ) -> StoreResult<Lookup<SessionRecord>> {
                    let _writer = self.writer().await;
                    let mut tx = self.pool().begin().await?;
                    let Some((_, below, kept)) = Self::lock_sessions(&mut *tx, user).await? else {
                        return Ok(Lookup::NoUser);
                    };
                    let deleted: Option<SessionRecord> = sqlx::query_as(sql::DELETE_SESSION)
                        .bind(user.0)
                        .bind(id.0)
                        .bind(now_s)
                        .bind(below)
                        .bind(kept)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(deleted) = deleted else {
                        return Ok(Lookup::NoSession);
                    };
                    sqlx::query(sql::UNCOUNT_SESSIONS)
                        .bind(user.0)
                        .bind(1_i64)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(Lookup::Found(deleted))
                }

                async fn revoke_sessions(
                    &self,
                    user: UserId,
                    ids: &[SessionId],
                    now_s: i64,
                ) -> StoreResult<Option<u64>> {
                    let _writer = self.writer().await;
                    let mut tx = self.pool().begin().await?;
                    let Some((_, below, kept)) = Self::lock_sessions(&mut *tx, user).await? else {
                        return Ok(None);
                    };
                    if ids.is_empty() {
                        return Ok(Some(0));
                    }
                    let statement = format!(
                        "{}{}",
                        sql::DELETE_SESSIONS_PREFIX,
                        sql::in_list(5, ids.len())
                    );
                    let mut query = sqlx::query(&statement)
                        .bind(user.0)
                        .bind(now_s)
                        .bind(below)
                        .bind(kept);
                    for id in ids {
                        query = query.bind(id.0);
                    }
                    let deleted = query.execute(&mut *tx).await?.rows_affected();
                    if deleted > 0 {
                        sqlx::query(sql::UNCOUNT_SESSIONS)
                            .bind(user.0)
                            .bind(deleted as i64)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(Some(deleted))
                }

                async fn revoke_all_sessions(
                    &self,
                    user: UserId,
                    keep: Option<SessionId>,
                    now_s: i64,
                ) -> StoreResult<Option<u64>> {
                    let _writer = self.writer().await;
                    let mut tx = self.pool().begin().await?;
                    let revoked = Self::revoke_all_in(&mut *tx, user, keep, now_s).await?;
                    tx.commit().await?;
                    Ok(revoked)
                }

                async fn insert_sessions(
                    &self,
                    user: UserId,
                    sessions: &[NewSession],
                ) -> StoreResult<Option<u64>> {
                    let _writer = self.writer().await;
                    let mut tx = self.pool().begin().await?;
                    let inserted = Self::insert_sessions_in(&mut *tx, user, sessions).await?;
                    tx.commit().await?;
                    Ok(inserted)
                }

                async fn reserve_user_ids(&self, above: i64) -> StoreResult<()> {
                    let _writer = self.writer().await;
                    let mut tx = self.pool().begin().await?;
                    for statement in self.reserve_user_ids_statements() {
                        sqlx::query(statement).bind(above).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn import_accounts(
                    &self,
                    accounts: &[ImportedAccount],
                    dry_run: bool,
                ) -> StoreResult<Vec<ImportOutcome>> {
                    let _writer = self.writer().await;
                    let mut tx = self.pool().begin().await?;
                    let mut outcomes = Vec::with_capacity(accounts.len());
                    for account in accounts {
                        let added = sqlx::query(sql::INSERT_IMPORTED_USER)
                            .bind(account.id.0)
                            .bind(&account.username)
                            .bind(&account.email)
                            .bind(account.email.to_lowercase())
                            .bind(&account.password_hash)
                            .bind(account.staff)
                            .bind(account.banned_at)
                            .bind(account.created_at)
                            .bind(account.updated_at)
                            .bind(&account.domain)
                            .bind(account.subdomain.as_deref())
                            .execute(&mut *tx)
                            .await?
                            .rows_affected()
                            > 0;
                        // An account already here gets only sessions newer than any it was
                        // given: one revoked since the last run must not come back.
                        let mut newer_than = i64::MIN;
                        if !added {
                            let holder: Option<(String, i64)> = sqlx::query_as(sql::USERNAME_BY_ID)
                                .bind(account.id.0)
                                .fetch_optional(&mut *tx)
                                .await?;
                            match holder {
                                Some((name, last)) if name == account.username => newer_than = last,
                                Some(_) => {
                                    outcomes.push(ImportOutcome::Conflict(
                                        "its ID belongs to another account here",
                                    ));
                                    continue;
                                }
                                None => {
                                    outcomes.push(ImportOutcome::Conflict(
                                        "its username or email belongs to another account here",
                                    ));
                                    continue;
                                }
                            }
                        }
                        let sessions: Vec<NewSession> = account
                            .sessions
                            .iter()
                            .filter(|s| s.iat > newer_than)
                            .map(|s| NewSession {
                                iat: s.iat,
                                exp: s.exp,
                                name: s.name.clone(),
                            })
                            .collect();
                        let written = Self::insert_sessions_in(&mut *tx, account.id, &sessions)
                            .await?
                            .unwrap_or(0);
                        outcomes.push(if added {
                            ImportOutcome::Added { sessions: written }
                        } else {
                            ImportOutcome::Existing { sessions: written }
                        });
                    }
                    if dry_run {
                        tx.rollback().await?;
                    } else {
                        tx.commit().await?;
                    }
                    Ok(outcomes)
                }

                async fn record_uses(
                    &self,
                    uses: &[$crate::store::SessionUse],
                ) -> StoreResult<u64> {
                    let _writer = self.writer().await;
                    let mut statements = 0;
                    for chunk in uses.chunks(sql::USES_PER_STATEMENT) {
                        let statement = sql::record_uses(chunk.len());
                        let mut query = sqlx::query(&statement);
                        for used in chunk {
                            query = query
                                .bind(used.user.0)
                                .bind(used.id.0)
                                .bind(used.at_ms)
                                .bind(&used.ip);
                        }
                        query.execute(self.pool()).await?;
                        statements += 1;
                    }
                    Ok(statements)
                }

                async fn purge_pending(&self) -> StoreResult<bool> {
                    let pending: Option<i64> = sqlx::query_scalar(sql::NEXT_PURGE_PENDING)
                        .fetch_optional(self.pool())
                        .await?;
                    Ok(pending.is_some())
                }

                async fn prune_expired(&self, now_s: i64, batch: u32) -> StoreResult<u64> {
                    let _writer = self.writer().await;
                    let owner: Option<i64> = sqlx::query_scalar(sql::NEXT_EXPIRED_OWNER)
                        .bind(now_s)
                        .fetch_optional(self.pool())
                        .await?;
                    let Some(owner) = owner else {
                        return Ok(0);
                    };
                    let user = UserId(owner);
                    let mut tx = self.pool().begin().await?;
                    let Some((_, below, kept)) = Self::lock_sessions(&mut *tx, user).await? else {
                        return Ok(0);
                    };
                    let pruned: Vec<i64> = sqlx::query_scalar(sql::DELETE_EXPIRED_OF_USER)
                        .bind(user.0)
                        .bind(now_s)
                        .bind(i64::from(batch))
                        .fetch_all(&mut *tx)
                        .await?;
                    let counted = pruned
                        .iter()
                        .filter(|&&iat| iat >= below || Some(iat) == kept)
                        .count();
                    if counted > 0 {
                        sqlx::query(sql::UNCOUNT_SESSIONS)
                            .bind(user.0)
                            .bind(counted as i64)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(pruned.len() as u64)
                }

                async fn purge_revoked(&self, batch: u32) -> StoreResult<Option<u64>> {
                    let _writer = self.writer().await;
                    let pending: Option<i64> = sqlx::query_scalar(sql::NEXT_PURGE_PENDING)
                        .fetch_optional(self.pool())
                        .await?;
                    let Some(pending) = pending else {
                        return Ok(None);
                    };
                    let user = UserId(pending);
                    let mut tx = self.pool().begin().await?;
                    let Some((_, below, kept)) = Self::lock_sessions(&mut *tx, user).await? else {
                        return Ok(Some(0));
                    };
                    let purged = sqlx::query(sql::PURGE_REVOKED)
                        .bind(user.0)
                        .bind(below)
                        .bind(kept)
                        .bind(i64::from(batch))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if purged < u64::from(batch) {
                        sqlx::query(sql::PURGE_DONE)
                            .bind(user.0)
                            .bind(below)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(Some(purged))
                }

                async fn take_hit(
                    &self,
                    key: &str,
                    limit: u32,
                    window_ms: i64,
                    now_ms: i64,
                ) -> StoreResult<(i64, i64)> {
                    let _writer = self.writer().await;
                    Ok(sqlx::query_as(sql::TAKE_HIT)
                        .bind(key)
                        .bind(now_ms.saturating_add(window_ms))
                        .bind(now_ms)
                        .bind(i64::from(limit))
                        .fetch_one(self.pool())
                        .await?)
                }

                async fn give_back_hit(
                    &self,
                    key: &str,
                    limit: u32,
                    reset_at_ms: i64,
                ) -> StoreResult<()> {
                    let _writer = self.writer().await;
                    sqlx::query(sql::GIVE_BACK_HIT)
                        .bind(key)
                        .bind(reset_at_ms)
                        .bind(i64::from(limit))
                        .execute(self.pool())
                        .await?;
                    Ok(())
                }

                async fn claim_setting(&self, name: &str, value: &str) -> StoreResult<String> {
                    let _writer = self.writer().await;
                    sqlx::query(sql::CLAIM_SETTING)
                        .bind(name)
                        .bind(value)
                        .execute(self.pool())
                        .await?;
                    Ok(sqlx::query_scalar(sql::SETTING)
                        .bind(name)
                        .fetch_one(self.pool())
                        .await?)
                }

                async fn signing_keys(&self) -> StoreResult<Vec<KeyRow>> {
                    Ok(sqlx::query_as(sql::SIGNING_KEYS)
                        .fetch_all(self.pool())
                        .await?)
                }

                async fn add_signing_key(&self, key: &KeyRow) -> StoreResult<bool> {
                    let _writer = self.writer().await;
                    let mut tx = self.pool().begin().await?;
                    sqlx::query(sql::LOCK_KEY_SET).execute(&mut *tx).await?;
                    if key.legacy {
                        sqlx::query(sql::CLEAR_LEGACY_KEY)
                            .bind(&key.kid)
                            .execute(&mut *tx)
                            .await?;
                    }
                    let added = sqlx::query(sql::INSERT_KEY)
                        .bind(&key.kid)
                        .bind(&key.public_key)
                        .bind(&key.private_key)
                        .bind(key.created_at)
                        .bind(key.retired_at)
                        .bind(key.legacy)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        > 0;
                    if key.legacy && !added {
                        sqlx::query(sql::MAKE_LEGACY_KEY)
                            .bind(&key.kid)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(added)
                }

                async fn retire_signing_key(
                    &self,
                    kid: &str,
                    now_ms: i64,
                ) -> StoreResult<Retirement> {
                    let _writer = self.writer().await;
                    let mut tx = self.pool().begin().await?;
                    sqlx::query(sql::LOCK_KEY_SET).execute(&mut *tx).await?;
                    let retired: Option<KeyRow> = sqlx::query_as(sql::RETIRE_KEY)
                        .bind(kid)
                        .bind(now_ms)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let outcome = match retired {
                        Some(row) => Retirement::Retired(row),
                        None => {
                            let row: Option<KeyRow> = sqlx::query_as(sql::KEY_BY_ID)
                                .bind(kid)
                                .fetch_optional(&mut *tx)
                                .await?;
                            match row {
                                None => Retirement::NoSuchKey,
                                Some(row) if row.retired_at.is_some() => Retirement::AlreadyRetired,
                                Some(_) => Retirement::LastKey,
                            }
                        }
                    };
                    tx.commit().await?;
                    Ok(outcome)
                }

                async fn create_client(
                    &self,
                    name: &str,
                    secret_hash: &str,
                    now_ms: i64,
                ) -> StoreResult<bool> {
                    let _writer = self.writer().await;
                    Ok(sqlx::query(sql::CREATE_CLIENT)
                        .bind(name)
                        .bind(secret_hash)
                        .bind(now_ms)
                        .execute(self.pool())
                        .await?
                        .rows_affected()
                        > 0)
                }

                async fn list_clients(&self) -> StoreResult<Vec<ClientRow>> {
                    Ok(sqlx::query_as(sql::LIST_CLIENTS)
                        .fetch_all(self.pool())
                        .await?)
                }

                async fn revoke_client(
                    &self,
                    name: &str,
                    now_ms: i64,
                ) -> StoreResult<Option<ClientRow>> {
                    let _writer = self.writer().await;
                    Ok(sqlx::query_as(sql::REVOKE_CLIENT)
                        .bind(name)
                        .bind(now_ms)
                        .fetch_optional(self.pool())
                        .await?)
                }

                async fn introspect(
                    &self,
                    client: &str,
                    session: Option<$crate::store::SessionKey>,
                ) -> StoreResult<(Option<String>, Option<AuthRecord>)> {
                    self.introspect_row(client, session).await
                }

                async fn refresh_statistics(&self) -> StoreResult<()> {
                    let _writer = self.writer().await;
                    for statement in sql::REFRESH_STATISTICS {
                        sqlx::query(statement).execute(self.pool()).await?;
                    }
                    Ok(())
                }

                async fn ping(&self) -> StoreResult<()> {
                    sqlx::query("SELECT 1").execute(self.pool()).await?;
                    Ok(())
                }

                async fn prune_rate_limits(&self, now_ms: i64) -> StoreResult<u64> {
                    let _writer = self.writer().await;
                    Ok(sqlx::query(sql::PRUNE_RATE_LIMITS)
                        .bind(now_ms)
                        .execute(self.pool())
                        .await?
                        .rows_affected())
                }
            }
        };
    };
}

pub(crate) use impl_store;

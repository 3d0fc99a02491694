//! The single body of `Store` methods, stamped out once per backend. Each backend type only
//! has to provide a `pool` field and a `writer()` that queues write transactions (SQLite) or
//! lets them run concurrently (PostgreSQL); the SQL and the logic around it exist once.

macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// One page of live sessions and their count, through `pool`: one round trip
            /// when the page has rows, which carry the total.
            async fn list_rows_pooled(
                pool: &sqlx::Pool<$db>,
                user: $crate::domain::UserId,
                now_s: i64,
                page: $crate::domain::Page,
            ) -> $crate::store::StoreResult<$crate::domain::Listing<$crate::domain::SessionRecord>>
            {
                let rows: Vec<(i64, i64, i64, String, i64)> =
                    sqlx::query_as($crate::store::sql::LIST_SESSIONS_COUNTED)
                        .bind(user.0)
                        .bind(now_s)
                        .bind(i64::from(page.limit))
                        .bind(page.offset as i64)
                        .fetch_all(pool)
                        .await?;
                let count = match rows.first() {
                    Some(row) => row.4,
                    None => sqlx::query_scalar($crate::store::sql::COUNT_SESSIONS)
                        .bind(user.0)
                        .bind(now_s)
                        .fetch_optional(pool)
                        .await?
                        .unwrap_or(0),
                };
                let items = rows
                    .into_iter()
                    .map(
                        |(user_id, iat, exp, name, _)| $crate::domain::SessionRecord {
                            user_id: $crate::domain::UserId(user_id),
                            id: $crate::domain::SessionId(iat),
                            exp,
                            name,
                        },
                    )
                    .collect();
                Ok($crate::domain::Listing {
                    count: count.max(0) as u64,
                    items,
                })
            }

            /// Takes the user's row lock and reads `(session_count, revoked_below, kept_session)`.
            async fn lock_sessions(
                conn: &mut <$db as sqlx::Database>::Connection,
                user: $crate::domain::UserId,
            ) -> $crate::store::StoreResult<Option<(i64, i64, Option<i64>)>> {
                Ok(sqlx::query_as($crate::store::sql::LOCK_USER_SESSIONS)
                    .bind(user.0)
                    .fetch_optional(conn)
                    .await?)
            }

            /// Revokes every session of `user` but `keep` by moving the watermark: a constant
            /// number of statements, however many sessions there are. Returns how many live
            /// sessions were revoked.
            async fn revoke_all_in(
                conn: &mut <$db as sqlx::Database>::Connection,
                user: $crate::domain::UserId,
                keep: Option<$crate::domain::SessionId>,
                now_s: i64,
            ) -> $crate::store::StoreResult<u64> {
                let Some((count, below, kept)) = Self::lock_sessions(&mut *conn, user).await?
                else {
                    return Ok(0);
                };
                let expired: i64 = sqlx::query_scalar($crate::store::sql::COUNT_EXPIRED_VALID)
                    .bind(user.0)
                    .bind(now_s)
                    .bind(below)
                    .bind(kept)
                    .fetch_one(&mut *conn)
                    .await?;
                let keep = match keep {
                    Some(keep) => {
                        let live: i64 = sqlx::query_scalar($crate::store::sql::IS_LIVE_VALID)
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
                sqlx::query($crate::store::sql::REVOKE_ALL)
                    .bind(user.0)
                    .bind(keep)
                    .bind(remaining)
                    .execute(&mut *conn)
                    .await?;
                Ok((count - expired - remaining).max(0) as u64)
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn create_user(
                &self,
                user: &$crate::store::NewUser,
                now_ms: i64,
            ) -> $crate::store::StoreResult<$crate::domain::UserRecord> {
                let _writer = self.writer().await;
                sqlx::query_as($crate::store::sql::INSERT_USER)
                    .bind(&user.username)
                    .bind(&user.email)
                    .bind(user.email.to_lowercase())
                    .bind(&user.password_hash)
                    .bind(user.staff)
                    .bind(now_ms)
                    .fetch_one(&self.pool)
                    .await
                    .map_err($crate::store::map_unique)
            }

            async fn user_by_id(
                &self,
                id: $crate::domain::UserId,
            ) -> $crate::store::StoreResult<Option<$crate::domain::UserRecord>> {
                Ok(sqlx::query_as($crate::store::sql::USER_BY_ID)
                    .bind(id.0)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn user_by_username(
                &self,
                username: &str,
            ) -> $crate::store::StoreResult<Option<$crate::domain::UserRecord>> {
                Ok(sqlx::query_as($crate::store::sql::USER_BY_USERNAME)
                    .bind(username)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn list_users(
                &self,
                page: $crate::domain::Page,
            ) -> $crate::store::StoreResult<$crate::domain::Listing<$crate::domain::UserRecord>>
            {
                let count: i64 = sqlx::query_scalar($crate::store::sql::COUNT_USERS)
                    .fetch_one(&self.pool)
                    .await?;
                let items = sqlx::query_as($crate::store::sql::LIST_USERS)
                    .bind(i64::from(page.limit))
                    .bind(page.offset as i64)
                    .fetch_all(&self.pool)
                    .await?;
                Ok($crate::domain::Listing {
                    count: count.max(0) as u64,
                    items,
                })
            }

            async fn update_user(
                &self,
                id: $crate::domain::UserId,
                changes: &$crate::store::UserChanges,
                now_ms: i64,
            ) -> $crate::store::StoreResult<Option<$crate::domain::UserRecord>> {
                let _writer = self.writer().await;
                let mut tx = self.pool.begin().await?;
                let updated: Option<$crate::domain::UserRecord> =
                    sqlx::query_as($crate::store::sql::UPDATE_USER)
                        .bind(id.0)
                        .bind(changes.username.as_deref())
                        .bind(changes.email.as_deref())
                        .bind(changes.email.as_deref().map(str::to_lowercase))
                        .bind(changes.password.as_ref().map(|p| p.hash.as_str()))
                        .bind(changes.staff)
                        .bind(now_ms)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err($crate::store::map_unique)?;
                if let (Some(_), Some(change)) = (&updated, &changes.password) {
                    // Accounts change rarely; the expiry cut-off only affects the count returned.
                    Self::revoke_all_in(&mut *tx, id, change.keep, now_ms.div_euclid(1000)).await?;
                }
                tx.commit().await?;
                Ok(updated)
            }

            async fn replace_password_hash(
                &self,
                id: $crate::domain::UserId,
                old: &str,
                new: &str,
            ) -> $crate::store::StoreResult<bool> {
                let _writer = self.writer().await;
                Ok(sqlx::query($crate::store::sql::REPLACE_PASSWORD_HASH)
                    .bind(id.0)
                    .bind(old)
                    .bind(new)
                    .execute(&self.pool)
                    .await?
                    .rows_affected()
                    > 0)
            }

            async fn change_ban(
                &self,
                id: $crate::domain::UserId,
                change: $crate::store::BanChange,
                now_ms: i64,
            ) -> $crate::store::StoreResult<Option<$crate::domain::UserRecord>> {
                let _writer = self.writer().await;
                let statement = match change {
                    $crate::store::BanChange::Ban => $crate::store::sql::BAN_USER,
                    $crate::store::BanChange::Unban => $crate::store::sql::UNBAN_USER,
                    $crate::store::BanChange::Toggle => $crate::store::sql::TOGGLE_BAN,
                };
                Ok(sqlx::query_as(statement)
                    .bind(id.0)
                    .bind(now_ms)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn delete_user(
                &self,
                id: $crate::domain::UserId,
            ) -> $crate::store::StoreResult<Option<$crate::domain::UserRecord>> {
                let _writer = self.writer().await;
                Ok(sqlx::query_as($crate::store::sql::DELETE_USER)
                    .bind(id.0)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn delete_users(
                &self,
                ids: &[$crate::domain::UserId],
            ) -> $crate::store::StoreResult<u64> {
                let _writer = self.writer().await;
                if ids.is_empty() {
                    return Ok(0);
                }
                let statement = format!(
                    "{}{}",
                    $crate::store::sql::DELETE_USERS_PREFIX,
                    $crate::store::sql::in_list(1, ids.len())
                );
                let mut query = sqlx::query(&statement);
                for id in ids {
                    query = query.bind(id.0);
                }
                Ok(query.execute(&self.pool).await?.rows_affected())
            }

            async fn create_session(
                &self,
                user: $crate::domain::UserId,
                now_s: i64,
                lifetime_s: i64,
                name: &str,
            ) -> $crate::store::StoreResult<Option<$crate::domain::SessionRecord>> {
                let _writer = self.writer().await;
                // The UPDATE comes first so the transaction takes its write lock at once.
                let mut tx = self.pool.begin().await?;
                let iat: Option<i64> = sqlx::query_scalar($crate::store::sql::ALLOCATE_SESSION_ID)
                    .bind(user.0)
                    .bind(now_s)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(iat) = iat else {
                    return Ok(None);
                };
                let session = sqlx::query_as($crate::store::sql::INSERT_SESSION)
                    .bind(user.0)
                    .bind(iat)
                    // Exactly the lifetime from the session's own `iat`, which may be later than now.
                    .bind(iat.saturating_add(lifetime_s))
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Some(session))
            }

            async fn authenticate(
                &self,
                user: $crate::domain::UserId,
                id: $crate::domain::SessionId,
                now_s: i64,
            ) -> $crate::store::StoreResult<Option<$crate::domain::AuthRecord>> {
                self.authenticate_row(user, id, now_s).await
            }

            async fn session(
                &self,
                user: $crate::domain::UserId,
                id: $crate::domain::SessionId,
                now_s: i64,
            ) -> $crate::store::StoreResult<Option<$crate::domain::SessionRecord>> {
                Ok(sqlx::query_as($crate::store::sql::SESSION)
                    .bind(user.0)
                    .bind(id.0)
                    .bind(now_s)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn list_sessions(
                &self,
                user: $crate::domain::UserId,
                now_s: i64,
                page: $crate::domain::Page,
            ) -> $crate::store::StoreResult<$crate::domain::Listing<$crate::domain::SessionRecord>>
            {
                self.list_rows(user, now_s, page).await
            }

            async fn delete_session(
                &self,
                user: $crate::domain::UserId,
                id: $crate::domain::SessionId,
                now_s: i64,
            ) -> $crate::store::StoreResult<Option<$crate::domain::SessionRecord>> {
                let _writer = self.writer().await;
                let mut tx = self.pool.begin().await?;
                let Some((_, below, kept)) = Self::lock_sessions(&mut *tx, user).await? else {
                    return Ok(None);
                };
                let deleted: Option<$crate::domain::SessionRecord> =
                    sqlx::query_as($crate::store::sql::DELETE_SESSION)
                        .bind(user.0)
                        .bind(id.0)
                        .bind(now_s)
                        .bind(below)
                        .bind(kept)
                        .fetch_optional(&mut *tx)
                        .await?;
                if deleted.is_some() {
                    sqlx::query($crate::store::sql::UNCOUNT_SESSIONS)
                        .bind(user.0)
                        .bind(1_i64)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(deleted)
            }

            async fn delete_sessions(
                &self,
                user: $crate::domain::UserId,
                ids: &[$crate::domain::SessionId],
                now_s: i64,
            ) -> $crate::store::StoreResult<u64> {
                let _writer = self.writer().await;
                if ids.is_empty() {
                    return Ok(0);
                }
                let mut tx = self.pool.begin().await?;
                let Some((_, below, kept)) = Self::lock_sessions(&mut *tx, user).await? else {
                    return Ok(0);
                };
                let statement = format!(
                    "{}{}",
                    $crate::store::sql::DELETE_SESSIONS_PREFIX,
                    $crate::store::sql::in_list(5, ids.len())
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
                    sqlx::query($crate::store::sql::UNCOUNT_SESSIONS)
                        .bind(user.0)
                        .bind(deleted as i64)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(deleted)
            }

            async fn delete_all_sessions(
                &self,
                user: $crate::domain::UserId,
                keep: Option<$crate::domain::SessionId>,
                now_s: i64,
            ) -> $crate::store::StoreResult<u64> {
                let _writer = self.writer().await;
                let mut tx = self.pool.begin().await?;
                let revoked = Self::revoke_all_in(&mut *tx, user, keep, now_s).await?;
                tx.commit().await?;
                Ok(revoked)
            }

            async fn prune_expired(
                &self,
                now_s: i64,
                batch: u32,
            ) -> $crate::store::StoreResult<u64> {
                let _writer = self.writer().await;
                let owner: Option<i64> = sqlx::query_scalar($crate::store::sql::NEXT_EXPIRED_OWNER)
                    .bind(now_s)
                    .fetch_optional(&self.pool)
                    .await?;
                let Some(owner) = owner else {
                    return Ok(0);
                };
                let user = $crate::domain::UserId(owner);
                let mut tx = self.pool.begin().await?;
                let Some((_, below, kept)) = Self::lock_sessions(&mut *tx, user).await? else {
                    return Ok(0);
                };
                let pruned: Vec<i64> =
                    sqlx::query_scalar($crate::store::sql::DELETE_EXPIRED_OF_USER)
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
                    sqlx::query($crate::store::sql::UNCOUNT_SESSIONS)
                        .bind(user.0)
                        .bind(counted as i64)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(pruned.len() as u64)
            }

            async fn purge_revoked(&self, batch: u32) -> $crate::store::StoreResult<Option<u64>> {
                let _writer = self.writer().await;
                let pending: Option<i64> =
                    sqlx::query_scalar($crate::store::sql::NEXT_PURGE_PENDING)
                        .fetch_optional(&self.pool)
                        .await?;
                let Some(pending) = pending else {
                    return Ok(None);
                };
                let user = $crate::domain::UserId(pending);
                let mut tx = self.pool.begin().await?;
                let Some((_, below, kept)) = Self::lock_sessions(&mut *tx, user).await? else {
                    return Ok(Some(0));
                };
                let purged = sqlx::query($crate::store::sql::PURGE_REVOKED)
                    .bind(user.0)
                    .bind(below)
                    .bind(kept)
                    .bind(i64::from(batch))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if purged < u64::from(batch) {
                    sqlx::query($crate::store::sql::PURGE_DONE)
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
            ) -> $crate::store::StoreResult<(i64, i64)> {
                let _writer = self.writer().await;
                Ok(sqlx::query_as($crate::store::sql::TAKE_HIT)
                    .bind(key)
                    .bind(now_ms.saturating_add(window_ms))
                    .bind(now_ms)
                    .bind(i64::from(limit))
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn give_back_hit(
                &self,
                key: &str,
                limit: u32,
                reset_at_ms: i64,
            ) -> $crate::store::StoreResult<()> {
                let _writer = self.writer().await;
                sqlx::query($crate::store::sql::GIVE_BACK_HIT)
                    .bind(key)
                    .bind(reset_at_ms)
                    .bind(i64::from(limit))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn claim_setting(
                &self,
                name: &str,
                value: &str,
            ) -> $crate::store::StoreResult<String> {
                let _writer = self.writer().await;
                sqlx::query($crate::store::sql::CLAIM_SETTING)
                    .bind(name)
                    .bind(value)
                    .execute(&self.pool)
                    .await?;
                Ok(sqlx::query_scalar($crate::store::sql::SETTING)
                    .bind(name)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn ping(&self) -> $crate::store::StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn prune_rate_limits(&self, now_ms: i64) -> $crate::store::StoreResult<u64> {
                let _writer = self.writer().await;
                Ok(sqlx::query($crate::store::sql::PRUNE_RATE_LIMITS)
                    .bind(now_ms)
                    .execute(&self.pool)
                    .await?
                    .rows_affected())
            }
        }
    };
}

pub(crate) use impl_store;

//! The authentication lookup on PostgreSQL, answered in batches.
//!
//! Every authenticated request must read the database as it is when the request arrives (a
//! session revoked through any instance is refused on the very next request), so there is
//! nothing to cache. What can be shared is the round trip: while a lookup is on its way, the
//! lookups arriving behind it queue up and go together in the next query, one `unnest` over
//! all of them. A lookup never joins a query that was already sent, so each query's snapshot
//! is taken after every request in it arrived; and a lookup that finds no query in flight goes
//! at once, so under light load nothing waits.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::{sql, StoreError, StoreResult};
use crate::domain::{AuthRecord, SessionId, SessionRecord, UserId};

/// More than the server has requests in flight at any sane setting; a full queue only makes
/// senders wait.
const QUEUE: usize = 4096;
/// One query's worth: its three arrays stay a few KiB.
const MAX_BATCH: usize = 256;

type Answer = Result<Option<AuthRecord>, Arc<sqlx::Error>>;

struct Lookup {
    user: UserId,
    id: SessionId,
    now_s: i64,
    reply: oneshot::Sender<Answer>,
}

pub struct AuthBatcher {
    queue: mpsc::Sender<Lookup>,
}

impl AuthBatcher {
    /// Starts the task that sends the queries; it ends when the batcher is dropped. A query
    /// not answered within `deadline` is abandoned and its connection closed, so one
    /// connection that stops answering (a firewall that forgot it, say) cannot stall every
    /// authenticated request behind it.
    pub fn start(pool: PgPool, deadline: Duration) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, deadline, waiting));
        Self { queue }
    }

    pub async fn authenticate(
        &self,
        user: UserId,
        id: SessionId,
        now_s: i64,
    ) -> StoreResult<Option<AuthRecord>> {
        let (reply, answer) = oneshot::channel();
        let lookup = Lookup {
            user,
            id,
            now_s,
            reply,
        };
        let closed = || StoreError::Database(sqlx::Error::PoolClosed);
        self.queue.send(lookup).await.map_err(|_| closed())?;
        answer
            .await
            .map_err(|_| closed())?
            .map_err(StoreError::Shared)
    }
}

/// One query in flight at a time: on two cores, a second one measured slower (fewer lookups
/// per query, more context switches), and the batch grows with the load anyway.
async fn run(pool: PgPool, deadline: Duration, mut waiting: mpsc::Receiver<Lookup>) {
    while let Some(first) = waiting.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match waiting.try_recv() {
                Ok(lookup) => batch.push(lookup),
                Err(_) => break,
            }
        }
        answer(&pool, deadline, batch).await;
    }
}

async fn answer(pool: &PgPool, deadline: Duration, batch: Vec<Lookup>) {
    let mut users = Vec::with_capacity(batch.len());
    let mut ids = Vec::with_capacity(batch.len());
    let mut nows = Vec::with_capacity(batch.len());
    for lookup in &batch {
        users.push(lookup.user.0);
        ids.push(lookup.id.0);
        nows.push(lookup.now_s);
    }
    let rows = query(pool, deadline, &users, &ids, &nows).await;
    let mut answers: Vec<Option<AuthRecord>> = vec![None; batch.len()];
    match rows {
        Ok(rows) => {
            for (n, user_id, iat, exp, name, staff, banned_at) in rows {
                // `n` is the lookup's 1-based position in the arrays.
                let Some(slot) = usize::try_from(n - 1).ok().and_then(|i| answers.get_mut(i))
                else {
                    continue;
                };
                *slot = Some(AuthRecord {
                    session: SessionRecord {
                        user_id: UserId(user_id),
                        id: SessionId(iat),
                        exp,
                        name,
                    },
                    staff,
                    banned_at,
                });
            }
            for (lookup, found) in batch.into_iter().zip(answers) {
                // The request may have timed out and gone; nobody to tell.
                let _ = lookup.reply.send(Ok(found));
            }
        }
        Err(err) => {
            let err = Arc::new(err);
            for lookup in batch {
                let _ = lookup.reply.send(Err(Arc::clone(&err)));
            }
        }
    }
}

type Row = (i64, i64, i64, i64, String, bool, Option<i64>);

async fn query(
    pool: &PgPool,
    deadline: Duration,
    users: &[i64],
    ids: &[i64],
    nows: &[i64],
) -> Result<Vec<Row>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let rows = sqlx::query_as(sql::AUTHENTICATE_MANY)
        .bind(users)
        .bind(ids)
        .bind(nows)
        .fetch_all(&mut *conn);
    match tokio::time::timeout(deadline, rows).await {
        Ok(rows) => rows,
        Err(_) => {
            // Returned to the pool, it would be pinged, and the ping would hang as well.
            conn.close_on_drop();
            Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer to the authentication lookup within {deadline:?}"),
            )))
        }
    }
}

//! The authentication lookup on PostgreSQL, answered in batches.
//!
//! Every authenticated request must read the database as it is when the request arrives (a
//! session revoked through any instance is refused on the very next request), so there is
//! nothing to cache. What can be shared is the round trip: while a lookup is on its way, the
//! lookups arriving behind it queue up and go together in the next query, one `unnest` over
//! all of them. A lookup never joins a query that was already sent, so each query's snapshot
//! is taken after every request in it arrived; and a lookup that finds no query in flight goes
//! at once, so under light load nothing waits.
//!
//! The queries go over one connection of the batcher's own rather than through the pool: a
//! pooled connection is pinged (a round trip) every time it is handed back, and a ping into a
//! connection gone silent would hold its pool slot until TCP gave up.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::Connection as _;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::postgres::IDLE_TIMEOUT;
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
    /// Starts the task that sends the queries; it ends when the batcher is dropped. Connecting
    /// (when needed) and answering get `deadline` together; a connection that misses it, or
    /// fails in any way, is dropped and a new one made for the next query, so one connection that stops answering
    /// (a firewall that forgot it, say) cannot stall every authenticated request behind it.
    pub fn start(options: PgConnectOptions, deadline: Duration) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        let link = Link {
            options,
            deadline,
            conn: None,
            last_used: Instant::now(),
        };
        tokio::spawn(run(link, waiting));
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
/// One query in flight at a time: on two cores a second one measured slower (fewer lookups per
/// query, more context switches), and the batch grows with the load anyway.
async fn run(mut link: Link, mut waiting: mpsc::Receiver<Lookup>) {
    while let Some(first) = waiting.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match waiting.try_recv() {
                Ok(lookup) => batch.push(lookup),
                Err(_) => break,
            }
        }
        answer(&mut link, batch).await;
    }
}

async fn answer(link: &mut Link, batch: Vec<Lookup>) {
    let mut users = Vec::with_capacity(batch.len());
    let mut ids = Vec::with_capacity(batch.len());
    let mut nows = Vec::with_capacity(batch.len());
    for lookup in &batch {
        users.push(lookup.user.0);
        ids.push(lookup.id.0);
        nows.push(lookup.now_s);
    }
    let rows = link.query(&users, &ids, &nows).await;
    let mut answers: Vec<Option<AuthRecord>> = vec![None; batch.len()];
    match rows {
        Ok(rows) => {
            for (n, user_id, iat, exp, name, staff, banned_at, username) in rows {
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
                    username,
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

type Row = (i64, i64, i64, i64, String, bool, Option<i64>, String);

/// The batcher's connection, made when needed.
struct Link {
    options: PgConnectOptions,
    deadline: Duration,
    conn: Option<PgConnection>,
    last_used: Instant,
}

impl Link {
    async fn query(
        &mut self,
        users: &[i64],
        ids: &[i64],
        nows: &[i64],
    ) -> Result<Vec<Row>, sqlx::Error> {
        if self.last_used.elapsed() > IDLE_TIMEOUT {
            // As the pools do: a connection idle this long may have been dropped silently.
            self.conn = None;
        }
        self.last_used = Instant::now();
        let attempt = async {
            let conn = match &mut self.conn {
                Some(conn) => conn,
                None => self
                    .conn
                    .insert(PgConnection::connect_with(&self.options).await?),
            };
            sqlx::query_as(sql::AUTHENTICATE_MANY)
                .bind(users)
                .bind(ids)
                .bind(nows)
                .fetch_all(conn)
                .await
        };
        let outcome = match tokio::time::timeout(self.deadline, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "no answer to the authentication lookup within {:?}",
                    self.deadline
                ),
            ))),
        };
        if outcome.is_err() {
            // Whatever went wrong, the next query starts on a fresh connection; dropping this
            // one just closes its socket.
            self.conn = None;
        }
        outcome
    }
}

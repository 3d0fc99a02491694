//! The lookups made on every request on PostgreSQL (a session's authentication, a service
//! client's secret), answered in batches: `Batcher` holds the mechanism, `AuthLookups` and
//! `ClientLookups` say which query answers a batch.
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

/// One kind of lookup: the key each request brings, what it finds, and the one query that
/// answers many keys at once, each found row tagged with its key's 1-based position.
#[async_trait::async_trait]
pub(super) trait Lookups: Send + Sync + 'static {
    type Key: Send + Sync + 'static;
    type Found: Clone + Send + 'static;
    /// Names the lookup in a timeout's error.
    const WHAT: &'static str;
    async fn query(
        conn: &mut PgConnection,
        keys: &[Self::Key],
    ) -> Result<Vec<(i64, Self::Found)>, sqlx::Error>;
}

/// A row of `sql::AUTHENTICATE_MANY`: the lookup's position and what it found.
struct NumberedAuth {
    n: i64,
    record: AuthRecord,
}

/// By column position, not name: this runs for every authenticated request, and a lookup of
/// each column's name per row is work for nothing when the statement fixes the order.
impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for NumberedAuth {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(Self {
            n: row.try_get(0)?,
            record: AuthRecord {
                session: SessionRecord {
                    user_id: UserId(row.try_get(1)?),
                    id: SessionId(row.try_get(2)?),
                    exp: row.try_get(3)?,
                    name: row.try_get(4)?,
                    created_at: row.try_get(5)?,
                    used_at: row.try_get(6)?,
                    ip: row.try_get(7)?,
                    last_ip: row.try_get(8)?,
                    user_agent: row.try_get(9)?,
                },
                staff: row.try_get(10)?,
                banned_at: row.try_get(11)?,
                username: row.try_get(12)?,
            },
        })
    }
}

/// `sql::AUTHENTICATE_MANY`: (user, session, now) -> the live session and its owner.
pub(super) struct AuthLookups;

#[async_trait::async_trait]
impl Lookups for AuthLookups {
    type Key = (UserId, SessionId, i64);
    type Found = AuthRecord;
    const WHAT: &'static str = "authentication lookup";

    async fn query(
        conn: &mut PgConnection,
        keys: &[Self::Key],
    ) -> Result<Vec<(i64, AuthRecord)>, sqlx::Error> {
        let users: Vec<i64> = keys.iter().map(|k| k.0 .0).collect();
        let ids: Vec<i64> = keys.iter().map(|k| k.1 .0).collect();
        let nows: Vec<i64> = keys.iter().map(|k| k.2).collect();
        let rows: Vec<NumberedAuth> = sqlx::query_as(sql::AUTHENTICATE_MANY)
            .bind(users)
            .bind(ids)
            .bind(nows)
            .fetch_all(conn)
            .await?;
        Ok(rows.into_iter().map(|row| (row.n, row.record)).collect())
    }
}

/// `sql::INTROSPECT_MANY`: a client's name and maybe a session -> the live client's secret
/// hash, and the session as `AuthLookups` would find it. Every key gets a row.
pub(super) struct IntrospectLookups;

/// A row of `sql::INTROSPECT_MANY`: NULLs where the client or the session was not found.
#[derive(sqlx::FromRow)]
struct IntrospectRow {
    n: i64,
    secret_hash: Option<String>,
    user_id: Option<i64>,
    iat: Option<i64>,
    exp: Option<i64>,
    name: Option<String>,
    created_at: Option<i64>,
    used_at: Option<i64>,
    ip: Option<String>,
    last_ip: Option<String>,
    user_agent: Option<String>,
    staff: Option<bool>,
    banned_at: Option<i64>,
    username: Option<String>,
}

impl IntrospectRow {
    fn record(self) -> Option<AuthRecord> {
        Some(AuthRecord {
            session: SessionRecord {
                user_id: UserId(self.user_id?),
                id: SessionId(self.iat?),
                exp: self.exp?,
                name: self.name?,
                created_at: self.created_at?,
                used_at: self.used_at,
                ip: self.ip,
                last_ip: self.last_ip,
                user_agent: self.user_agent,
            },
            staff: self.staff?,
            banned_at: self.banned_at,
            username: self.username?,
        })
    }
}

#[async_trait::async_trait]
impl Lookups for IntrospectLookups {
    type Key = (String, Option<super::SessionKey>);
    type Found = (Option<String>, Option<AuthRecord>);
    const WHAT: &'static str = "introspection lookup";

    async fn query(
        conn: &mut PgConnection,
        keys: &[Self::Key],
    ) -> Result<Vec<(i64, Self::Found)>, sqlx::Error> {
        let clients: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
        // A key without a session asks for user 0, which no user has (IDs start at 1).
        let users: Vec<i64> = keys.iter().map(|k| k.1.map_or(0, |s| s.0 .0)).collect();
        let ids: Vec<i64> = keys.iter().map(|k| k.1.map_or(0, |s| s.1 .0)).collect();
        let nows: Vec<i64> = keys.iter().map(|k| k.1.map_or(0, |s| s.2)).collect();
        let rows: Vec<IntrospectRow> = sqlx::query_as(sql::INTROSPECT_MANY)
            .bind(clients)
            .bind(users)
            .bind(ids)
            .bind(nows)
            .fetch_all(conn)
            .await?;
        Ok(rows
            .into_iter()
            .map(|mut row| {
                let secret = row.secret_hash.take();
                (row.n, (secret, row.record()))
            })
            .collect())
    }
}

/// More than the server has requests in flight at any sane setting; a full queue only makes
/// senders wait.
const QUEUE: usize = 4096;
/// One query's worth: its three arrays stay a few KiB.
const MAX_BATCH: usize = 256;

type Answer<L> = Result<Option<<L as Lookups>::Found>, Arc<sqlx::Error>>;

struct Lookup<L: Lookups> {
    key: L::Key,
    reply: oneshot::Sender<Answer<L>>,
}

pub(super) struct Batcher<L: Lookups> {
    queue: mpsc::Sender<Lookup<L>>,
}

impl<L: Lookups> Batcher<L> {
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
        tokio::spawn(run::<L>(link, waiting));
        Self { queue }
    }

    /// What the next batch finds for `key`.
    pub async fn lookup(&self, key: L::Key) -> StoreResult<Option<L::Found>> {
        let (reply, answer) = oneshot::channel();
        let lookup = Lookup { key, reply };
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
async fn run<L: Lookups>(mut link: Link, mut waiting: mpsc::Receiver<Lookup<L>>) {
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

async fn answer<L: Lookups>(link: &mut Link, batch: Vec<Lookup<L>>) {
    let (keys, replies): (Vec<L::Key>, Vec<_>) =
        batch.into_iter().map(|l| (l.key, l.reply)).unzip();
    match link.query::<L>(&keys).await {
        Ok(rows) => {
            let mut answers: Vec<Option<L::Found>> = vec![None; replies.len()];
            for (n, found) in rows {
                // `n` is the lookup's 1-based position in the arrays.
                if let Some(slot) = usize::try_from(n - 1).ok().and_then(|i| answers.get_mut(i)) {
                    *slot = Some(found);
                }
            }
            for (reply, found) in replies.into_iter().zip(answers) {
                // The request may have timed out and gone; nobody to tell.
                let _ = reply.send(Ok(found));
            }
        }
        Err(err) => {
            let err = Arc::new(err);
            for reply in replies {
                let _ = reply.send(Err(Arc::clone(&err)));
            }
        }
    }
}

/// The batcher's connection, made when needed.
struct Link {
    options: PgConnectOptions,
    deadline: Duration,
    conn: Option<PgConnection>,
    last_used: Instant,
}

impl Link {
    async fn query<L: Lookups>(
        &mut self,
        keys: &[L::Key],
    ) -> Result<Vec<(i64, L::Found)>, sqlx::Error> {
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
            L::query(conn, keys).await
        };
        let outcome = match tokio::time::timeout(self.deadline, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer to the {} within {:?}", L::WHAT, self.deadline),
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

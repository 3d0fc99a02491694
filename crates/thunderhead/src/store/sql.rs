//! Every statement both backends run. `$N` placeholders work on SQLite and PostgreSQL alike,
//! and only types both dialects agree on are used (BIGINT, TEXT, BOOLEAN).
//!
//! # The invariants the session statements keep together
//!
//! Four columns of `users` describe a user's sessions, so that revoking all of them and
//! counting them cost a constant number of statements however many there are:
//!
//! - `last_session_iat` is the highest session ID ever handed out to the user. It never goes
//!   down, not even when sessions are deleted, and every session row of the user has an `iat`
//!   at or below it. A new ID is the current second, or `last_session_iat + 1` if that is
//!   later (`ALLOCATE_SESSION_ID`), so an ID is never handed out twice.
//! - `revoked_below` is the revocation watermark: a row with `iat < revoked_below` is revoked,
//!   unless it is `kept_session`. A revoke-all moves it to `last_session_iat + 1`
//!   (`REVOKE_ALL`), so every existing session falls below it and every future one is above.
//! - `kept_session` is the one session the last "revoke all but this" spared, or NULL.
//! - A row is *valid* when `iat >= revoked_below OR iat = kept_session` (the `valid!` macro);
//!   every read of sessions applies it, together with `exp > now` for liveness.
//! - `session_count` is the number of valid rows of the user, expired or not, until the pruner
//!   deletes them. Every statement that adds or removes valid rows changes it in the same
//!   transaction (`ALLOCATE_SESSION_ID`, `UNCOUNT_SESSIONS`, `REVOKE_ALL`,
//!   `COUNT_INSERTED_SESSIONS`); the count a client sees is `session_count` less the valid rows
//!   that have expired (`COUNT_SESSIONS`).
//! - `purge_pending` is set when a revoke-all leaves revoked rows behind; the purge deletes them
//!   in batches and clears it only if the watermark has not moved since (`PURGE_DONE`).
//!
//! Every change to a user's sessions first takes the user's row lock (`LOCK_USER_SESSIONS`, or
//! `ALLOCATE_SESSION_ID` for a login), so the changes of one user run one at a time and these
//! columns always agree with the rows. A writer that bypasses these statements (a bulk load)
//! must keep them too: `Store::insert_sessions` does.
//!
//! The key set (`signing_keys`) always has at least one live key once created: retiring takes
//! the key set's lock first (`LOCK_KEY_SET`, a row lock on the key file's fingerprint
//! setting), then retires only while another live key remains (`RETIRE_KEY`), so two
//! retirements at once on two instances cannot retire the last two. At most one key is
//! `legacy` (a unique partial index); making another one legacy clears the flag first, in
//! the same transaction (`CLEAR_LEGACY_KEY`).
//!
//! `rate_limits.hits` is at most the limit plus one: `TAKE_HIT` stops counting at that marker,
//! so a refused attempt takes nothing and `GIVE_BACK_HIT` can return a unit exactly.

macro_rules! user_columns {
    () => {
        "id, username, email, password_hash, staff, banned_at, created_at, updated_at, domain, subdomain"
    };
}

macro_rules! session_columns {
    () => {
        "user_id, iat, exp, name, created_at, used_at, ip, last_ip, user_agent"
    };
    ($s:literal) => {
        concat!(
            $s,
            ".user_id, ",
            $s,
            ".iat, ",
            $s,
            ".exp, ",
            $s,
            ".name, ",
            $s,
            ".created_at, ",
            $s,
            ".used_at, ",
            $s,
            ".ip, ",
            $s,
            ".last_ip, ",
            $s,
            ".user_agent"
        )
    };
}

pub const INSERT_USER: &str = concat!(
    "INSERT INTO users (username, email, email_key, password_hash, staff, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ",
    user_columns!()
);

pub const USER_EXISTS: &str = "SELECT id FROM users WHERE id = $1";

pub const USER_BY_ID: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");

pub const USER_BY_USERNAME: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users WHERE username = $1"
);

pub const COUNT_USERS: &str = "SELECT COUNT(*) FROM users";

pub const LIST_USERS: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users ORDER BY id DESC LIMIT $1 OFFSET $2"
);

/// Staff search, SQLite, three characters or more: the trigram index answers a quoted phrase
/// (`"text"`, quotes doubled) with every row holding it anywhere, case-insensitively.
pub const SEARCH_USERS_INDEXED_SQLITE: [&str; 2] = [
    "SELECT COUNT(*) FROM users_search WHERE users_search MATCH $1",
    concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE id IN (SELECT rowid FROM users_search WHERE users_search MATCH $1) \
         ORDER BY id DESC LIMIT $2 OFFSET $3"
    ),
];

/// Staff search, SQLite, one or two characters (too short for trigrams): a scan for the text.
pub const SEARCH_USERS_SCAN_SQLITE: [&str; 2] = [
    "SELECT COUNT(*) FROM users WHERE instr(username, $1) > 0 OR instr(email_key, $1) > 0",
    concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE instr(username, $1) > 0 OR instr(email_key, $1) > 0 \
         ORDER BY id DESC LIMIT $2 OFFSET $3"
    ),
];

/// Staff search, PostgreSQL: `$1` is `%text%` with LIKE's own characters escaped; the trigram
/// indexes serve it from three characters on.
pub const SEARCH_USERS_POSTGRES: [&str; 2] = [
    "SELECT COUNT(*) FROM users WHERE username LIKE $1 ESCAPE '\\' OR email_key LIKE $1 ESCAPE '\\'",
    concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE username LIKE $1 ESCAPE '\\' OR email_key LIKE $1 ESCAPE '\\' \
         ORDER BY id DESC LIMIT $2 OFFSET $3"
    ),
];

pub const UPDATE_USER: &str = concat!(
    "UPDATE users SET username = COALESCE($2, username), email = COALESCE($3, email), \
     email_key = COALESCE($4, email_key), password_hash = COALESCE($5, password_hash), \
     staff = COALESCE($6, staff), updated_at = $7 WHERE id = $1 RETURNING ",
    user_columns!()
);

/// Replaces the password hash `$2` by `$3`, only if it is still `$2`.
pub const REPLACE_PASSWORD_HASH: &str =
    "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2";

pub const BAN_USER: &str = concat!(
    "UPDATE users SET banned_at = COALESCE(banned_at, $2), updated_at = $2 WHERE id = $1 RETURNING ",
    user_columns!()
);

pub const UNBAN_USER: &str = concat!(
    "UPDATE users SET banned_at = NULL, updated_at = $2 WHERE id = $1 RETURNING ",
    user_columns!()
);

pub const TOGGLE_BAN: &str = concat!(
    "UPDATE users SET banned_at = CASE WHEN banned_at IS NULL THEN $2 ELSE NULL END, \
     updated_at = $2 WHERE id = $1 RETURNING ",
    user_columns!()
);

pub const DELETE_USER: &str = concat!(
    "DELETE FROM users WHERE id = $1 RETURNING ",
    user_columns!()
);

/// Prefix of a bulk user delete; `in_list` completes it.
pub const DELETE_USERS_PREFIX: &str = "DELETE FROM users WHERE id IN ";

/// A session row is valid when it is not below its user's revocation watermark, or is the one
/// session the last "revoke all but this" kept. Every read of sessions applies this.
macro_rules! valid {
    ($s:literal, $u:literal) => {
        concat!(
            "(",
            $s,
            ".iat >= ",
            $u,
            ".revoked_below OR ",
            $s,
            ".iat = ",
            $u,
            ".kept_session)"
        )
    };
}

/// Takes the next session ID for a user and counts the session: the current second, or one
/// past the last ID handed out if that is later. The row lock serialises concurrent logins of
/// one user, and the counter outlives deleted sessions, so an ID is never handed out twice.
pub const ALLOCATE_SESSION_ID: &str = "UPDATE users SET last_session_iat = \
     CASE WHEN last_session_iat + 1 > $2 THEN last_session_iat + 1 ELSE $2 END, \
     session_count = session_count + 1 \
     WHERE id = $1 RETURNING last_session_iat";

pub const INSERT_SESSION: &str = concat!(
    "INSERT INTO sessions (user_id, iat, exp, name, created_at, ip, user_agent) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ",
    session_columns!()
);

/// Ends up to `$4` of the user's live sessions other than `$3`, least recently used first (as
/// the database knows their use): what a login beyond `--max-sessions-per-user` costs.
pub const DELETE_LEAST_RECENTLY_USED: &str = concat!(
    "DELETE FROM sessions WHERE (user_id, iat) IN (SELECT s.user_id, s.iat FROM sessions s \
     JOIN users u ON u.id = s.user_id WHERE s.user_id = $1 AND s.exp > $2 AND s.iat <> $3 AND ",
    valid!("s", "u"),
    " ORDER BY COALESCE(s.used_at, s.created_at), s.iat LIMIT $4)"
);

/// Takes the user's row lock before any change to its sessions, and reads what validity
/// depends on: `(session_count, revoked_below, kept_session)`.
pub const LOCK_USER_SESSIONS: &str = "UPDATE users SET session_count = session_count \
     WHERE id = $1 RETURNING session_count, revoked_below, kept_session";

pub const UNCOUNT_SESSIONS: &str =
    "UPDATE users SET session_count = session_count - $2 WHERE id = $1";

pub const AUTHENTICATE: &str = concat!(
    "SELECT ",
    session_columns!("s"),
    ", u.staff, u.banned_at, u.username \
     FROM sessions s JOIN users u ON u.id = s.user_id \
     WHERE s.user_id = $1 AND s.iat = $2 AND s.exp > $3 AND ",
    valid!("s", "u")
);

/// PostgreSQL only: `AUTHENTICATE` for many lookups at once. `n` is each lookup's position in
/// the arrays; a lookup with no row has no live session.
pub const AUTHENTICATE_MANY: &str = concat!(
    "SELECT k.n, ",
    session_columns!("s"),
    ", u.staff, u.banned_at, u.username \
     FROM unnest($1::BIGINT[], $2::BIGINT[], $3::BIGINT[]) WITH ORDINALITY AS k(user_id, iat, now_s, n) \
     JOIN sessions s ON s.user_id = k.user_id AND s.iat = k.iat AND s.exp > k.now_s \
     JOIN users u ON u.id = s.user_id \
     WHERE ",
    valid!("s", "u")
);

pub const SESSION: &str = concat!(
    "SELECT ",
    session_columns!("s"),
    " FROM sessions s JOIN users u ON u.id = s.user_id \
     WHERE s.user_id = $1 AND s.iat = $2 AND s.exp > $3 AND ",
    valid!("s", "u")
);

/// The kept count less the sessions that expired and await the pruner (few: the pruner runs
/// every few minutes), found through the (user_id, exp) index.
pub const COUNT_SESSIONS: &str = concat!(
    "SELECT u.session_count - (SELECT COUNT(*) FROM sessions s \
     WHERE s.user_id = u.id AND s.exp <= $2 AND ",
    valid!("s", "u"),
    ") FROM users u WHERE u.id = $1"
);

pub const LIST_SESSIONS: &str = concat!(
    "SELECT ",
    session_columns!("s"),
    " FROM sessions s JOIN users u ON u.id = s.user_id \
     WHERE s.user_id = $1 AND s.exp > $2 AND ",
    valid!("s", "u"),
    " ORDER BY s.iat DESC LIMIT $3 OFFSET $4"
);

/// A page with the total beside every row, so a non-empty page costs one round trip; an empty
/// page falls back to `COUNT_SESSIONS`. The total is computed once, in a materialised CTE:
/// written in the select list, PostgreSQL ran its subquery for every row.
pub const LIST_SESSIONS_COUNTED: &str = concat!(
    "WITH u AS MATERIALIZED (SELECT id, revoked_below, kept_session, session_count - \
     (SELECT COUNT(*) FROM sessions x WHERE x.user_id = users.id AND x.exp <= $2 AND ",
    valid!("x", "users"),
    ") AS total FROM users WHERE id = $1) \
     SELECT ",
    session_columns!("s"),
    ", u.total FROM sessions s JOIN u ON u.id = s.user_id \
     WHERE s.user_id = $1 AND s.exp > $2 AND ",
    valid!("s", "u"),
    " ORDER BY s.iat DESC LIMIT $3 OFFSET $4"
);

/// Valid rows of a user among those that expired by `$2`; `$3`, `$4`: watermark and kept.
pub const COUNT_EXPIRED_VALID: &str = "SELECT COUNT(*) FROM sessions \
     WHERE user_id = $1 AND exp <= $2 AND (iat >= $3 OR iat = $4)";

/// PostgreSQL only: for many introspections at once, `CLIENT_SECRET_HASH` and `AUTHENTICATE`
/// together, one row per lookup (`n`), NULLs where the client or the session was not found.
pub const INTROSPECT_MANY: &str = concat!(
    "SELECT k.n, c.secret_hash, ",
    session_columns!("s"),
    ", u.staff, u.banned_at, u.username \
     FROM unnest($1::TEXT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[]) \
     WITH ORDINALITY AS k(client, user_id, iat, now_s, n) \
     LEFT JOIN service_clients c ON c.name = k.client AND c.revoked_at IS NULL \
     LEFT JOIN (sessions s JOIN users u ON u.id = s.user_id AND ",
    valid!("s", "u"),
    ") ON s.user_id = k.user_id AND s.iat = k.iat AND s.exp > k.now_s"
);

/// Whether `$2` is a live, valid session of user `$1`.
pub const IS_LIVE_VALID: &str = "SELECT COUNT(*) FROM sessions \
     WHERE user_id = $1 AND iat = $2 AND exp > $3 AND (iat >= $4 OR iat = $5)";

pub const DELETE_SESSION: &str = concat!(
    "DELETE FROM sessions WHERE user_id = $1 AND iat = $2 AND exp > $3 AND (iat >= $4 OR iat = $5) RETURNING ",
    session_columns!()
);

/// Prefix of a bulk session delete; `in_list` completes it. The unary `+`s keep the expiry and
/// validity tests out of index selection, so the listed IDs are looked up by primary key; left
/// indexable, SQLite scanned every live session of the user through the expiry index and
/// PostgreSQL (without statistics yet) the whole ID range above the watermark.
pub const DELETE_SESSIONS_PREFIX: &str =
    "DELETE FROM sessions WHERE user_id = $1 AND +exp > $2 AND (+iat >= $3 OR +iat = $4) AND iat IN ";

/// Revokes every session of the user below the next ID to be handed out, but `$2`.
pub const REVOKE_ALL: &str = "UPDATE users SET revoked_below = last_session_iat + 1, \
     kept_session = $2, session_count = $3, purge_pending = TRUE WHERE id = $1";

/// The user holding the oldest expired session, if any.
pub const NEXT_EXPIRED_OWNER: &str =
    "SELECT user_id FROM sessions WHERE exp <= $1 ORDER BY exp LIMIT 1";

/// Deletes up to `$3` of one user's expired rows; the caller holds the user's row lock.
pub const DELETE_EXPIRED_OF_USER: &str = "DELETE FROM sessions WHERE (user_id, iat) IN \
     (SELECT user_id, iat FROM sessions WHERE user_id = $1 AND exp <= $2 LIMIT $3) RETURNING iat";

pub const NEXT_PURGE_PENDING: &str = "SELECT id FROM users WHERE purge_pending LIMIT 1";

/// Deletes up to `$4` rows revoked by the watermark `$2`, sparing the kept session `$3`.
pub const PURGE_REVOKED: &str = "DELETE FROM sessions WHERE (user_id, iat) IN \
     (SELECT user_id, iat FROM sessions WHERE user_id = $1 AND iat < $2 AND iat <> COALESCE($3, -1) LIMIT $4)";

pub const PURGE_DONE: &str =
    "UPDATE users SET purge_pending = FALSE WHERE id = $1 AND revoked_below = $2";

/// Takes one hit of budget `$4` from `$1`'s window, starting a new window (ending at `$2`) if
/// the stored one ended by `$3` (now). A full window stays at `$4 + 1` hits, so a refused hit
/// takes nothing. One statement, so concurrent instances can never both take the last hit.
pub const TAKE_HIT: &str = "INSERT INTO rate_limits (key, hits, reset_at) VALUES ($1, 1, $2) \
     ON CONFLICT (key) DO UPDATE SET \
     hits = CASE WHEN rate_limits.reset_at <= $3 THEN 1 \
     WHEN rate_limits.hits <= $4 THEN rate_limits.hits + 1 ELSE rate_limits.hits END, \
     reset_at = CASE WHEN rate_limits.reset_at <= $3 THEN $2 ELSE rate_limits.reset_at END \
     RETURNING hits, reset_at";

/// Gives back one hit taken from the window of `$1` that ends at `$2`; a full window's extra
/// hit (`$3 + 1`) is only a marker and goes with it.
pub const GIVE_BACK_HIT: &str = "UPDATE rate_limits SET \
     hits = CASE WHEN hits > $3 THEN $3 - 1 ELSE hits - 1 END \
     WHERE key = $1 AND reset_at = $2 AND hits > 0";

/// Records `$2` under `$1` unless something is recorded already; `SETTING` then reads it.
pub const CLAIM_SETTING: &str =
    "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";

pub const SETTING: &str = "SELECT value FROM settings WHERE name = $1";

pub const PRUNE_RATE_LIMITS: &str = "DELETE FROM rate_limits WHERE reset_at <= $1";

macro_rules! key_columns {
    () => {
        "kid, public_key, private_key, created_at, retired_at, legacy"
    };
}

/// Every key, oldest first: the whole set is a few rows, read every few seconds.
pub const SIGNING_KEYS: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM signing_keys ORDER BY created_at, kid"
);

/// Adds a key unless its ID is there already.
pub const INSERT_KEY: &str = concat!(
    "INSERT INTO signing_keys (",
    key_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kid) DO NOTHING"
);

pub const CLEAR_LEGACY_KEY: &str =
    "UPDATE signing_keys SET legacy = FALSE WHERE legacy AND kid <> $1";

/// Makes `$1` the key that kid-less tokens verify against (it was added before).
pub const MAKE_LEGACY_KEY: &str = "UPDATE signing_keys SET legacy = TRUE WHERE kid = $1";

/// Serialises changes to the key set across instances: a row lock on the setting that names
/// the key file every instance shares.
pub const LOCK_KEY_SET: &str =
    "UPDATE settings SET value = value WHERE name = 'signing_key_fingerprint'";

/// Retires `$1` at `$2`, only while another key stays live; the caller holds `LOCK_KEY_SET`.
pub const RETIRE_KEY: &str = concat!(
    "UPDATE signing_keys SET retired_at = $2 WHERE kid = $1 AND retired_at IS NULL \
     AND EXISTS (SELECT 1 FROM signing_keys o WHERE o.retired_at IS NULL AND o.kid <> $1) \
     RETURNING ",
    key_columns!()
);

pub const KEY_BY_ID: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM signing_keys WHERE kid = $1"
);

macro_rules! client_columns {
    () => {
        "name, created_at, revoked_at"
    };
}

/// A new client, or a new secret for a revoked one of that name; a live one is left alone
/// (no row affected: the name is taken).
pub const CREATE_CLIENT: &str = "INSERT INTO service_clients (name, secret_hash, created_at) \
     VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET secret_hash = $2, created_at = $3, \
     revoked_at = NULL WHERE service_clients.revoked_at IS NOT NULL";

pub const LIST_CLIENTS: &str = concat!(
    "SELECT ",
    client_columns!(),
    " FROM service_clients ORDER BY name"
);

pub const REVOKE_CLIENT: &str = concat!(
    "UPDATE service_clients SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL RETURNING ",
    client_columns!()
);

/// The secret's hash of a live client.
pub const CLIENT_SECRET_HASH: &str =
    "SELECT secret_hash FROM service_clients WHERE name = $1 AND revoked_at IS NULL";

/// An account imported with its own ID; nothing happens if the ID, the username or the
/// email is taken (the importer then asks which).
pub const INSERT_IMPORTED_USER: &str = "INSERT INTO users (id, username, email, email_key, \
     password_hash, staff, banned_at, created_at, updated_at, domain, subdomain) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING";

/// After a bulk load: the planner's statistics, which a live database's autovacuum would
/// gather in time, gathered now (the staff search picks its trigram index by them).
pub const REFRESH_STATISTICS: [&str; 2] = ["ANALYZE users", "ANALYZE sessions"];

/// Who holds an ID, and the last session ID they were given.
pub const USERNAME_BY_ID: &str = "SELECT username, last_session_iat FROM users WHERE id = $1";

/// SQLite: every ID handed out from now on is above `$1` (AUTOINCREMENT's counter lives in
/// `sqlite_sequence`, which has no row for `users` before its first insert).
pub const RESERVE_USER_IDS_SQLITE: [&str; 2] = [
    "INSERT INTO sqlite_sequence (name, seq) SELECT 'users', 0 \
     WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'users')",
    "UPDATE sqlite_sequence SET seq = $1 WHERE name = 'users' AND seq < $1",
];

/// PostgreSQL: the same for the identity's sequence; never moves it back.
pub const RESERVE_USER_IDS_POSTGRES: [&str; 1] =
    ["SELECT setval(pg_get_serial_sequence('users', 'id'), \
     GREATEST($1, nextval(pg_get_serial_sequence('users', 'id'))))"];

/// Counts sessions inserted in bulk (`insert_sessions`): moves the ID counter past the last
/// inserted ID `$2`, so no later login can take one of them, and adds `$3` to the count.
pub const COUNT_INSERTED_SESSIONS: &str = "UPDATE users SET \
     last_session_iat = CASE WHEN last_session_iat > $2 THEN last_session_iat ELSE $2 END, \
     session_count = session_count + $3 WHERE id = $1";

/// `count` sessions of user `$1` in one statement: `($1, $2, $3, $4), ($1, $5, $6, $7), ...`
/// for `(iat, exp, name)`; IDs already taken are skipped.
pub fn insert_sessions(count: usize) -> String {
    let mut out =
        String::from("INSERT INTO sessions (user_id, iat, exp, name, created_at) VALUES ");
    for i in 0..count {
        let p = 2 + i * 3;
        if i > 0 {
            out.push(',');
        }
        // Opened at its `iat`: a session's ID is the second it was opened.
        out.push_str(&format!(
            "($1, ${}, ${}, ${}, ${} * 1000)",
            p,
            p + 1,
            p + 2,
            p
        ));
    }
    out.push_str(" ON CONFLICT (user_id, iat) DO NOTHING");
    out
}

/// Sessions' uses per statement of `record_uses`: four parameters each, inside both
/// backends' limits (SQLite's 32,766, PostgreSQL's 65,535).
pub const USES_PER_STATEMENT: usize = 4_000;

/// Writes `count` sessions' last uses in one statement, `($1, $2, $3, $4), ...` for
/// `(user_id, iat, used_at, ip)`: the later use wins, so instances flushing in any order
/// never move it back. The same text runs on both backends (a CTE, then UPDATE … FROM).
pub fn record_uses(count: usize) -> String {
    let mut out = String::from("WITH v (user_id, iat, used_at, ip) AS (VALUES ");
    for i in 0..count {
        let p = 1 + i * 4;
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            "(CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS TEXT))",
            p,
            p + 1,
            p + 2,
            p + 3
        ));
    }
    out.push_str(
        ") UPDATE sessions SET used_at = v.used_at, last_ip = v.ip FROM v \
         WHERE sessions.user_id = v.user_id AND sessions.iat = v.iat \
         AND (sessions.used_at IS NULL OR sessions.used_at < v.used_at)",
    );
    out
}

/// `($first, $first+1, ...)` with `count` placeholders; `count` must be at least 1.
pub fn in_list(first: usize, count: usize) -> String {
    let mut out = String::with_capacity(count * 5 + 2);
    out.push('(');
    for i in 0..count {
        if i > 0 {
            out.push(',');
        }
        out.push('$');
        out.push_str(&(first + i).to_string());
    }
    out.push(')');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn in_list_numbers_placeholders() {
        assert_eq!(super::in_list(3, 3), "($3,$4,$5)");
        assert_eq!(super::in_list(1, 1), "($1)");
    }
}

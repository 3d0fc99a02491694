//! Every statement both backends run. `$N` placeholders work on SQLite and PostgreSQL alike,
//! and only types both dialects agree on are used (BIGINT, TEXT, BOOLEAN).

macro_rules! user_columns {
    () => {
        "id, username, email, password_hash, staff, banned_at, created_at, updated_at"
    };
}

macro_rules! session_columns {
    () => {
        "user_id, iat, exp, name"
    };
}

pub const INSERT_USER: &str = concat!(
    "INSERT INTO users (username, email, email_key, password_hash, staff, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ",
    user_columns!()
);

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

pub const UPDATE_USER: &str = concat!(
    "UPDATE users SET username = COALESCE($2, username), email = COALESCE($3, email), \
     email_key = COALESCE($4, email_key), password_hash = COALESCE($5, password_hash), \
     staff = COALESCE($6, staff), updated_at = $7 WHERE id = $1 RETURNING ",
    user_columns!()
);

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

/// Takes the next session ID for a user: the current second, or one past the last ID handed
/// out if that is later. The row lock serialises concurrent logins of one user, and the
/// counter outlives deleted sessions, so an ID is never handed out twice.
pub const ALLOCATE_SESSION_ID: &str = "UPDATE users SET last_session_iat = \
     CASE WHEN last_session_iat + 1 > $2 THEN last_session_iat + 1 ELSE $2 END \
     WHERE id = $1 RETURNING last_session_iat";

pub const INSERT_SESSION: &str = concat!(
    "INSERT INTO sessions (user_id, iat, exp, name) VALUES ($1, $2, $3, $4) RETURNING ",
    session_columns!()
);

pub const AUTHENTICATE: &str = "SELECT s.user_id, s.iat, s.exp, s.name, u.staff, u.banned_at \
     FROM sessions s JOIN users u ON u.id = s.user_id \
     WHERE s.user_id = $1 AND s.iat = $2 AND s.exp > $3";

pub const SESSION: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions WHERE user_id = $1 AND iat = $2 AND exp > $3"
);

pub const COUNT_SESSIONS: &str = "SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND exp > $2";

pub const LIST_SESSIONS: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions WHERE user_id = $1 AND exp > $2 ORDER BY iat DESC LIMIT $3 OFFSET $4"
);

pub const DELETE_SESSION: &str = concat!(
    "DELETE FROM sessions WHERE user_id = $1 AND iat = $2 AND exp > $3 RETURNING ",
    session_columns!()
);

/// Prefix of a bulk session delete; `in_list` completes it.
pub const DELETE_SESSIONS_PREFIX: &str =
    "DELETE FROM sessions WHERE user_id = $1 AND exp > $2 AND iat IN ";

pub const DELETE_ALL_SESSIONS: &str = "DELETE FROM sessions WHERE user_id = $1 AND exp > $2";

pub const DELETE_ALL_SESSIONS_BUT: &str =
    "DELETE FROM sessions WHERE user_id = $1 AND exp > $2 AND iat <> $3";

pub const DELETE_OTHER_SESSIONS_ANY_EXPIRY: &str =
    "DELETE FROM sessions WHERE user_id = $1 AND iat <> $2";

pub const DELETE_EVERY_SESSION_ANY_EXPIRY: &str = "DELETE FROM sessions WHERE user_id = $1";

/// Bounded so one prune never holds the write lock for long.
pub const PRUNE_EXPIRED: &str = "DELETE FROM sessions WHERE (user_id, iat) IN \
     (SELECT user_id, iat FROM sessions WHERE exp <= $1 LIMIT $2)";

/// Counts `$2` hits against `$1` in the window that ends at `reset_at`, starting a new window
/// (ending at `$3`) if the stored one ended by `$4` (now). One statement, so concurrent
/// instances never lose a hit.
pub const COUNT_HITS: &str = "INSERT INTO rate_limits (key, hits, reset_at) VALUES ($1, $2, $3) \
     ON CONFLICT (key) DO UPDATE SET \
     hits = CASE WHEN rate_limits.reset_at <= $4 THEN $2 ELSE rate_limits.hits + $2 END, \
     reset_at = CASE WHEN rate_limits.reset_at <= $4 THEN $3 ELSE rate_limits.reset_at END \
     RETURNING hits, reset_at";

pub const PEEK_HITS: &str =
    "SELECT hits, reset_at FROM rate_limits WHERE key = $1 AND reset_at > $2";

pub const PRUNE_RATE_LIMITS: &str = "DELETE FROM rate_limits WHERE reset_at <= $1";

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

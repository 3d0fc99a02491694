-- AUTOINCREMENT so that a deleted user's ID is never handed out again.
CREATE TABLE users (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    username         TEXT    NOT NULL UNIQUE,
    email            TEXT    NOT NULL,
    email_key        TEXT    NOT NULL UNIQUE,
    password_hash    TEXT    NOT NULL,
    staff            BOOLEAN NOT NULL DEFAULT FALSE,
    banned_at        BIGINT,
    last_session_iat BIGINT  NOT NULL DEFAULT 0,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);

-- A session's ID is (user, iat); rows are clustered by it so one user's page is one range scan.
CREATE TABLE sessions (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    iat     BIGINT  NOT NULL,
    exp     BIGINT  NOT NULL,
    name    TEXT    NOT NULL,
    PRIMARY KEY (user_id, iat)
) WITHOUT ROWID;

CREATE INDEX sessions_by_expiry ON sessions (exp);

-- An identity column never reuses a value, so a deleted user's ID is never handed out again.
CREATE TABLE users (
    id               BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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

CREATE TABLE sessions (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    iat     BIGINT NOT NULL,
    exp     BIGINT NOT NULL,
    name    TEXT   NOT NULL,
    PRIMARY KEY (user_id, iat)
);

CREATE INDEX sessions_by_expiry ON sessions (exp);

-- Rate-limit windows that must hold across instances (logins, sign-ups, wrong passwords).
CREATE TABLE rate_limits (
    key      TEXT   PRIMARY KEY,
    hits     BIGINT NOT NULL,
    reset_at BIGINT NOT NULL
);

CREATE INDEX rate_limits_by_reset ON rate_limits (reset_at);

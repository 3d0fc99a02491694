-- Where and when each session was used (API.md 2.1). Times in milliseconds. `used_at` and
-- `last_ip` are written in batches, at most a flush interval behind (service::usage).
ALTER TABLE sessions ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN used_at BIGINT;
ALTER TABLE sessions ADD COLUMN ip TEXT;
ALTER TABLE sessions ADD COLUMN last_ip TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
-- A session's ID is the second it was opened.
UPDATE sessions SET created_at = iat * 1000;

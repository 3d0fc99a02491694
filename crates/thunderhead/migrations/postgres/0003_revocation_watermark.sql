-- Revoking all of a user's sessions is one UPDATE, however many there are: sessions with an
-- ID below `revoked_below` are revoked, except `kept_session` ("all but this one"). The rows
-- themselves are deleted later, in the background (`purge_pending`).
ALTER TABLE users ADD COLUMN revoked_below BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN kept_session BIGINT;
ALTER TABLE users ADD COLUMN purge_pending BOOLEAN NOT NULL DEFAULT FALSE;

-- Sessions not revoked, expired or not, kept exact in the same transaction as every change,
-- so counting a user's sessions does not read them all.
ALTER TABLE users ADD COLUMN session_count BIGINT NOT NULL DEFAULT 0;
UPDATE users SET session_count = (SELECT COUNT(*) FROM sessions WHERE sessions.user_id = users.id);

-- Expired-but-not-yet-pruned sessions of one user, subtracted from the count.
CREATE INDEX sessions_by_user_expiry ON sessions (user_id, exp);
CREATE INDEX users_purge_pending ON users (id) WHERE purge_pending;

-- Staff search (API.md 2.1): a trigram index over usernames and emails (both stored lower
-- case), so a substring search of three characters or more reads the index, not every
-- account. Kept in step with `users` by triggers; the account columns a login changes are not
-- among those they watch.
CREATE VIRTUAL TABLE users_search USING fts5(
    username, email_key, content = 'users', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO users_search (users_search) VALUES ('rebuild');
CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_search (rowid, username, email_key) VALUES (new.id, new.username, new.email_key);
END;
CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
    INSERT INTO users_search (users_search, rowid, username, email_key)
    VALUES ('delete', old.id, old.username, old.email_key);
END;
CREATE TRIGGER users_search_update AFTER UPDATE OF username, email_key ON users BEGIN
    INSERT INTO users_search (users_search, rowid, username, email_key)
    VALUES ('delete', old.id, old.username, old.email_key);
    INSERT INTO users_search (rowid, username, email_key) VALUES (new.id, new.username, new.email_key);
END;

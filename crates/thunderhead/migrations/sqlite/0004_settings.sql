-- Facts every instance on this database must agree on, such as which signing key its tokens
-- are signed with. Written once, by whichever instance gets there first.
CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

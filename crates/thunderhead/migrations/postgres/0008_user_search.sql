-- Staff search (API.md 2.1): trigram indexes (pg_trgm) over usernames and emails (both stored
-- lower case), so `LIKE '%text%'` of three characters or more reads an index, not every
-- account. pg_trgm is a trusted extension from PostgreSQL 13 on: a role that may create
-- objects in the database may install it. Where it cannot be had, search still works, by
-- scanning, and a notice says why. It is installed in `public` (or found where it already is),
-- and named with its schema, so databases with one schema per tenant share one copy.
DO $$
DECLARE
    home TEXT;
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
    SELECT n.nspname INTO home FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    EXECUTE format('CREATE INDEX users_username_trgm ON users USING gin (username %I.gin_trgm_ops)', home);
    EXECUTE format('CREATE INDEX users_email_trgm ON users USING gin (email_key %I.gin_trgm_ops)', home);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'no trigram index for staff search (%): it will scan the users table', SQLERRM;
END
$$;

-- Accounts imported from a Cumulonimbus keep their own domain and subdomain (API.md 2.5); an
-- account made here has NULL in `domain` and reports the configured ones.
ALTER TABLE users ADD COLUMN domain TEXT;
ALTER TABLE users ADD COLUMN subdomain TEXT;

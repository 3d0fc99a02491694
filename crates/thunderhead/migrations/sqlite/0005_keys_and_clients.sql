-- The key set every instance on this database signs and verifies with (API.md 2.3). The
-- private half is sealed (AES-256-GCM) under a key derived from the key file, so a copy of
-- the database alone cannot sign tokens. `retired_at` set: the key verifies nothing. The
-- newest live key signs. The one `legacy` key also verifies tokens without a `kid` (issued
-- before keys had IDs, or by the original Cumulonimbus with the same key).
CREATE TABLE signing_keys (
    kid         TEXT    PRIMARY KEY,
    public_key  TEXT    NOT NULL,
    private_key TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    retired_at  BIGINT,
    legacy      BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX signing_keys_one_legacy ON signing_keys (legacy) WHERE legacy;

-- Other services of the deployment, for token introspection. The secret is stored only as
-- its SHA-256: it is 256 random bits, so a slow hash would add cost and no safety.
CREATE TABLE service_clients (
    name        TEXT   PRIMARY KEY,
    secret_hash TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

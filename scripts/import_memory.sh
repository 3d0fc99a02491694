#!/usr/bin/env bash
# Memory and time of `thunderhead import cumulonimbus` over a large Cumulonimbus-3-shaped
# database: ACCOUNTS accounts (default 100000), each with two live sessions and one expired,
# into a fresh SQLite file (or the PostgreSQL schema given as TARGET_URL). Prints the
# importer's report, its peak resident memory and its wall time, then drops what it made.
#
#   cargo build --release -p thunderhead && scripts/import_memory.sh [ACCOUNTS]
#
# Needs psql and GNU time; SOURCE_ADMIN_URL names a PostgreSQL database it may create a
# schema in (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/.."
ACCOUNTS="${1:-100000}"
ADMIN="${SOURCE_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}"
SCHEMA="cumulo_memory_$$"
BIN="${THUNDERHEAD_BIN:-target/release/thunderhead}"
WORK="$(mktemp -d)"
trap 'psql -q "$ADMIN" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

# One bcrypt hash (cost 4) for every account: hashing 100,000 of them would measure bcrypt.
HASH='$2a$04$p0Bf9dJiFz.7t.8iJSeX1uv9DMHvmONZm2wj6/lYPTcYjJ8tsJ9i6'
psql -q -v ON_ERROR_STOP=1 "$ADMIN" <<SQL
CREATE SCHEMA $SCHEMA;
SET search_path TO $SCHEMA;
CREATE TABLE "Users" (
    id VARCHAR(255) PRIMARY KEY, username VARCHAR(255) NOT NULL, email VARCHAR(255) NOT NULL,
    staff BOOLEAN NOT NULL DEFAULT FALSE, password VARCHAR(255) NOT NULL,
    domain VARCHAR(255) NOT NULL, subdomain VARCHAR(255), "bannedAt" TIMESTAMPTZ,
    sessions JSONB[], "createdAt" TIMESTAMPTZ NOT NULL, "updatedAt" TIMESTAMPTZ NOT NULL);
INSERT INTO "Users"
SELECT (1600000000000 + g)::text, 'user' || g, 'user' || g || '@example.com', g % 1000 = 0,
       '$HASH', 'example.com', NULL, NULL,
       ARRAY[
         jsonb_build_object('iat', 1700000000 + g, 'exp', 4000000000, 'name', 'Firefox v120 on Linux'),
         jsonb_build_object('iat', 1700000001 + g, 'exp', 4000000000, 'name', 'ShareX'),
         jsonb_build_object('iat', 1600000000 + g, 'exp', 1600000001 + g, 'name', 'expired')],
       now(), now()
FROM generate_series(1, $ACCOUNTS) g;
ANALYZE "Users";
SQL

TARGET="${TARGET_URL:-sqlite://$WORK/target.db}"
SOURCE="$ADMIN?options=-c%20search_path%3D$SCHEMA"
case "$ADMIN" in *\?*) SOURCE="$ADMIN&options=-c%20search_path%3D$SCHEMA";; esac
/usr/bin/time -v "$BIN" --database-url "$TARGET" --key-file "$WORK/key.pem" \
    import cumulonimbus --from "$SOURCE" 2> "$WORK/time.txt" | tee "$WORK/report.txt"
grep -E "read [0-9]+ accounts" "$WORK/time.txt" || true
grep -E "Maximum resident set size|Elapsed \(wall clock\)" "$WORK/time.txt"

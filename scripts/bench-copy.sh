#!/usr/bin/env bash
# Benchmark of `keyward db copy` (issue 12), not a test: run by hand, alone on
# the machine, and copy the figures into the README.
#
# Builds an SQLite source with 100,000 settings, 1,000,000 audit entries and
# 1,000,000 sessions (inserted with SQL behind keyward's back: the audit rows
# are not a valid chain, which the copy does not need: it copies bytes), then
# copies it with the release binary into a fresh PostgreSQL database on
# localhost, reporting the wall time (target: under 30 s) and the peak RSS
# from /usr/bin/time -f %M (target: under 100 MB).
# Needs: cargo, sqlite3, psql, /usr/bin/time.
#
# Usage: scripts/bench-copy.sh
# Environment: PGURL (postgres://postgres@127.0.0.1:5432; the script creates
#   the database kwbench_copy there and drops it at the end), WORK (a scratch
#   directory, default a new temp dir), SETTINGS, AUDIT, SESSIONS (row counts).
set -euo pipefail

PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
WORK=${WORK:-$(mktemp -d)}
SETTINGS=${SETTINGS:-100000}
AUDIT=${AUDIT:-1000000}
SESSIONS=${SESSIONS:-1000000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

cd "$ROOT"
cargo build --release --quiet
KW="$ROOT/target/release/keyward"

export HOME="$WORK/home"
mkdir -p "$HOME"
unset KEYWARD_TEST_NOW DATABASE_URL || true
export KEYWARD_PBKDF2_ITERATIONS=1000 # only for the setup's one user

SRC="$WORK/source.db"
rm -f "$SRC"*
"$KW" --database-url "sqlite://$SRC" db init >/dev/null 2>&1
echo 'correct horse battery staple 9' |
	"$KW" --database-url "sqlite://$SRC" users add bench --email bench@example.com --password-stdin >/dev/null 2>&1

echo "filling the source: $SETTINGS settings, $AUDIT audit entries, $SESSIONS sessions" >&2
sqlite3 "$SRC" <<SQL
PRAGMA journal_mode = WAL;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $SETTINGS)
INSERT INTO settings (key, environment, value, value_type, created_at, updated_at, updated_by)
SELECT 'bench.key.' || i, 'production', 'value number ' || i, 'string',
       '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', 'bench' FROM n;
WITH RECURSIVE n(i) AS (SELECT (SELECT MAX(id) FROM audit_events) + 1
                        UNION ALL SELECT i + 1 FROM n WHERE i < (SELECT MAX(id) FROM audit_events) + $AUDIT)
INSERT INTO audit_events (id, occurred_at, actor, action, target_type, target, details, prev_hash, hash)
SELECT i, strftime('%Y-%m-%dT%H:%M:%S', '2026-01-01', '+' || (i % 86400) || ' seconds') || '.' || printf('%06d', i % 1000000) || 'Z',
       'bench', 'settings.set', 'setting', 'bench.key.' || (i % 1000),
       '{"environment":"production","version":1}', printf('%064x', i - 1), printf('%064x', i) FROM n;
UPDATE audit_head SET last_id = (SELECT MAX(id) FROM audit_events),
                      last_hash = (SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1) WHERE singleton = 1;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $SESSIONS)
INSERT INTO sessions (user_id, access_jti, refresh_jti, device, ip_address, created_at, expires_at,
                      refresh_expires_at, refresh_hash)
SELECT (SELECT id FROM users LIMIT 1), 'jti-' || i, 'rjti-' || i, 'bench device', '192.0.2.' || (i % 250),
       '2026-01-01T00:00:00.000000Z', '2026-01-01T00:15:00.000000Z', '2026-01-31T00:00:00.000000Z',
       printf('%064x', i) FROM n;
COMMIT;
SQL
ls -l "$SRC" >&2

psql -q "$PGURL/postgres" -c "DROP DATABASE IF EXISTS kwbench_copy" -c "CREATE DATABASE kwbench_copy"
TARGET="$PGURL/kwbench_copy?sslmode=disable"

echo "copying to $TARGET" >&2
/usr/bin/time -f '%e s wall, %U s user, %S s sys, %M KB peak RSS' -o "$WORK/time.txt" \
	"$KW" --database-url "sqlite://$SRC" db copy --to "$TARGET" -o json >"$WORK/copy.json"
python3 - "$WORK/copy.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rows = sum(t["rows"] for t in r["tables"])
print(f"copied {rows} rows in {r['seconds']} s (keyward's own timer); heads equal: {r['source_head'] == r['target_head']}")
PY
cat "$WORK/time.txt"
psql -qtA "$TARGET" -c "SELECT 'target rows: settings ' || (SELECT COUNT(*) FROM settings) || ', audit_events ' || (SELECT COUNT(*) FROM audit_events) || ', sessions ' || (SELECT COUNT(*) FROM sessions)"
psql -q "$PGURL/postgres" -c "DROP DATABASE kwbench_copy"

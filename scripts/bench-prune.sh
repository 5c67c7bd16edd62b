#!/usr/bin/env bash
# Benchmark of `keyward sessions prune` (issue 9), not a test: run by hand,
# alone on the machine, and copy the figures into the README's performance
# table.
#
# With ROWS sessions of which EXPIRED have ended (5% of those also revoked)
# it times, on fresh copies of the same database:
#   - `keyward sessions prune --yes` against one `DELETE … WHERE` of the same
#     rows by the `sqlite3` shell (SQLite) or by `psql` (PostgreSQL);
#   - the longest batch (`longest_batch_ms` in prune's JSON: BEGIN to COMMIT,
#     waits for the lock included, so an upper bound of how long a batch held
#     SQLite's write lock), and on SQLite the longest time another writer,
#     trying every half millisecond, found the write lock taken;
#   - on SQLite, a prune with --batch-size 10000;
#   - `keyward sessions login` run one after another while a prune runs, each
#     one's latency, against the same login on an idle database.
# Needs: cargo, sqlite3, python3, hyperfine; psql for PostgreSQL.
#
# Usage: scripts/bench-prune.sh [sqlite|postgres|all]   (default all)
# Environment: ROWS (1000000), EXPIRED (900000), RUNS (3, hyperfine runs),
#   PGURL (postgres://postgres@127.0.0.1:5432, the server for the PostgreSQL
#   half; the script creates the databases kwbench and kwbench_run there and
#   drops them at the end), WORK (a scratch directory, default a new temp dir),
#   REUSE=1 (use the databases an earlier run left: the SQLite file in WORK,
#   the PostgreSQL database kwbench), KEEP=1 (leave kwbench in place).
set -euo pipefail

WHICH=${1:-all}
ROWS=${ROWS:-1000000}
EXPIRED=${EXPIRED:-900000}
RUNS=${RUNS:-3}
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
WORK=${WORK:-$(mktemp -d)}
HYPERFINE=$(command -v hyperfine || echo /root/.cargo/bin/hyperfine)
ROOT=$(cd "$(dirname "$0")/.." && pwd)

cd "$ROOT"
cargo build --release --quiet
KW="$ROOT/target/release/keyward"

# A private home for the key file; no KEYWARD_* setting leaks in.
export HOME="$WORK/home"
mkdir -p "$HOME"
unset KEYWARD_PBKDF2_ITERATIONS KEYWARD_TEST_NOW DATABASE_URL || true
PW='correct horse battery staple 9'
echo "work directory: $WORK; $ROWS sessions, $EXPIRED of them ended"

# Sessions i = 1..ROWS, in creation order. The first EXPIRED were created
# between 40 and 10 days ago and ended 7 days later (so at least 3 days ago;
# every 20th was also revoked an hour after its login); the rest were created
# in the last day and end in 6 to 7 days. Ids are made as keyward makes them
# (domain::sessions::tokens): the access token id is the creation second in 6
# base62 digits then 16 random characters, the refresh family the creation
# hour in 4 base62 digits then 8 random ones (hex here). Spread over 1,000 users.
# SQL for the integer $1 as $2 fixed-width base62 digits, as sed replacement
# text (both dialects: substr and integer division).
b62() {
  local x=$1 width=$2 out="" p=1 k
  for ((k = 1; k < width; k++)); do p=$((p * 62)); done
  for ((k = 0; k < width; k++)); do
    out+="${out:+ || }substr('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', CAST((($x) \/ $p) % 62 + 1 AS INTEGER), 1)"
    p=$((p / 62))
  done
  echo "$out"
}

# $1: SQL for "now" in whole seconds since the epoch; $2: a sed replacement
# turning TS(seconds) into the dialect's stored timestamp.
session_rows_sql() {
  local epoch=$1 ts=$2
  sed -E -e "s/TS\(([^()]*)\)/$ts/g" \
    -e "s/B62_6\(([^()]*)\)/$(b62 '\1' 6)/g" -e "s/B62_4\(([^()]*)\)/$(b62 '(\1)' 4)/g" <<SQL
INSERT INTO users (username, email, password_hash, created_at, updated_at)
SELECT 'user' || g.i, 'user' || g.i || '@example.com', u.password_hash, u.created_at, u.updated_at
FROM users u, (SELECT i FROM n WHERE i <= 1000) g WHERE u.username = 'alice';
INSERT INTO sessions (user_id, access_jti, refresh_jti, refresh_hash, device, ip_address,
    created_at, expires_at, refresh_expires_at, revoked_at, revoked_reason)
SELECT (SELECT id FROM users WHERE username = 'alice') + 1 + (i % 1000),
    B62_6(c) || substr(md, 13, 16), B62_4(c / 3600) || substr(md, 1, 8), md,
    'bench', '203.0.113.' || (i % 250),
    TS(c), TS(c + 900), TS(c + 7 * 86400),
    CASE WHEN i <= $EXPIRED AND i % 20 = 0 THEN TS(c + 3600) END,
    CASE WHEN i <= $EXPIRED AND i % 20 = 0 THEN 'revoked' END
FROM (SELECT i, md,
        CASE WHEN i <= $EXPIRED
             THEN $epoch - 40 * 86400 + (i - 1) * 2592000 / $EXPIRED
             ELSE $epoch - 86400 + (i - $EXPIRED) * 86400 / ($ROWS - $EXPIRED + 1) END AS c
      FROM n_md) s;
SQL
}

# The rows prune deletes, as one statement (now: SQL for the current instant).
delete_sql() {
  echo "DELETE FROM sessions WHERE COALESCE(refresh_expires_at, expires_at) <= $1 OR (revoked_at IS NOT NULL AND revoked_at <= $1)"
}

# Runs `sessions login` N times one after another (each timed, in ms) while
# the command "$@" (a prune) runs; prints the latencies and the prune's JSON.
logins_during() {
  local url=$1 n=$2
  shift 2
  "$@" >"$WORK/during.json" 2>/dev/null &
  local pid=$!
  sleep 0.3
  local lat=()
  for _ in $(seq "$n"); do
    local t0 t1
    t0=$(date +%s%N)
    echo "$PW" | "$KW" --database-url "$url" sessions login alice --password-stdin -o json >/dev/null 2>&1
    t1=$(date +%s%N)
    lat+=("$(( (t1 - t0) / 1000000 ))")
    kill -0 "$pid" 2>/dev/null || { echo "  (the prune had finished by then)"; break; }
  done
  local still=running
  kill -0 "$pid" 2>/dev/null || still=finished
  wait "$pid"
  echo "  logins during the prune (ms): ${lat[*]} (prune $still after the last login)"
  echo "  that prune: $(tr -d ' \n' <"$WORK/during.json")"
}

# One prune with extra flags, timed.
timed_prune() {
  local url=$1 t0 t1 out
  shift
  t0=$(date +%s%N)
  out=$("$KW" --database-url "$url" sessions prune --yes -o json "$@" 2>/dev/null | tr -d ' \n')
  t1=$(date +%s%N)
  echo "  prune $*: $(( (t1 - t0) / 1000000 )) ms: $out"
}

# Tries to take SQLite's write lock every half millisecond while the command
# "$@" (a prune) runs, and prints the longest stretch it was refused: the
# longest time a batch kept another writer out.
lock_probe() {
  local db=$1
  shift
  "$@" >"$WORK/probed.json" 2>/dev/null &
  local pid=$!
  python3 - "$db" "$pid" <<'PY'
import sqlite3, sys, time
db, pid = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db, timeout=0, isolation_level=None)
longest = busy_since = 0.0
tries = refused = 0
def alive():  # running, not exited (a zombie waiting for the shell counts as exited)
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
while alive():
    now = time.monotonic()
    tries += 1
    try:
        c.execute("BEGIN IMMEDIATE")
        c.execute("COMMIT")
        if busy_since:
            longest = max(longest, now - busy_since)
            busy_since = 0.0
    except sqlite3.OperationalError:
        refused += 1
        busy_since = busy_since or now
    time.sleep(0.0005)
print(f"  longest wait for the write lock during a prune: {longest * 1000:.0f} ms ({refused} of {tries} tries refused)")
PY
  wait "$pid" || true
  echo "  that prune: $(tr -d ' \n' <"$WORK/probed.json")"
}

idle_logins() {
  local url=$1 lat=()
  for _ in 1 2 3 4 5; do
    local t0 t1
    t0=$(date +%s%N)
    echo "$PW" | "$KW" --database-url "$url" sessions login alice --password-stdin -o json >/dev/null 2>&1
    t1=$(date +%s%N)
    lat+=("$(( (t1 - t0) / 1000000 ))")
  done
  echo "  logins on an idle database (ms): ${lat[*]}"
}

bench_sqlite() {
  echo "== SQLite"
  local base="$WORK/base.db" run="$WORK/run.db"
  if [ -z "${REUSE:-}" ] || [ ! -f "$base" ]; then
    rm -f "$base"*
    "$KW" --database-url "sqlite://$base" db init >/dev/null 2>&1
    echo "$PW" | "$KW" --database-url "sqlite://$base" users add alice --email alice@example.com --password-stdin >/dev/null 2>&1
    local t0=$SECONDS
    sqlite3 "$base" >/dev/null <<SQL
BEGIN;
CREATE TEMP TABLE n AS WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < $ROWS) SELECT i FROM r;
CREATE TEMP TABLE n_md AS SELECT i, lower(hex(randomblob(32))) AS md FROM n;
$(session_rows_sql "CAST(strftime('%s', 'now') AS INTEGER)" "(strftime('%Y-%m-%dT%H:%M:%S', \\1, 'unixepoch') || '.000000Z')")
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
    echo "  made $(sqlite3 "$base" 'SELECT COUNT(*) FROM sessions') sessions in $((SECONDS - t0)) s; file $(du -h "$base" | cut -f1)"
  fi
  local fresh="rm -f $run $run-wal $run-shm; cp $base $run"
  local now="(strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000Z')"
  "$HYPERFINE" --runs "$RUNS" --prepare "$fresh" --export-json "$WORK/sqlite.json" \
    -n 'keyward sessions prune' "$KW --database-url sqlite://$run sessions prune --yes" \
    -n 'sqlite3 DELETE' "sqlite3 $run \"$(delete_sql "$now")\""
  eval "$fresh"
  echo "  one prune: $("$KW" --database-url "sqlite://$run" sessions prune --yes -o json | tr -d ' \n')"
  eval "$fresh"
  timed_prune "sqlite://$run" --batch-size 10000
  eval "$fresh"
  lock_probe "$run" "$KW" --database-url "sqlite://$run" sessions prune --yes -o json
  eval "$fresh"
  idle_logins "sqlite://$run"
  eval "$fresh"
  logins_during "sqlite://$run" 10 "$KW" --database-url "sqlite://$run" sessions prune --yes -o json
}

bench_postgres() {
  echo "== PostgreSQL"
  local admin="$PGURL/postgres?sslmode=disable" base="$PGURL/kwbench?sslmode=disable" run="$PGURL/kwbench_run?sslmode=disable"
  if [ -z "${REUSE:-}" ] || ! psql -q "$base" -c 'SELECT 1' >/dev/null 2>&1; then
    psql -q "$admin" -c 'DROP DATABASE IF EXISTS kwbench_run' -c 'DROP DATABASE IF EXISTS kwbench' -c 'CREATE DATABASE kwbench'
    "$KW" --database-url "$base" db init >/dev/null 2>&1
    echo "$PW" | "$KW" --database-url "$base" users add alice --email alice@example.com --password-stdin >/dev/null 2>&1
    local t0=$SECONDS
    psql -q -v ON_ERROR_STOP=1 "$base" <<SQL
BEGIN;
CREATE TEMP TABLE n AS SELECT i::bigint AS i FROM generate_series(1, $ROWS) AS i;
CREATE TEMP TABLE n_md AS SELECT i, md5(random()::text) || md5(random()::text) AS md FROM n;
$(session_rows_sql "CAST(extract(epoch FROM now()) AS bigint)" "to_timestamp(\\1)")
COMMIT;
VACUUM ANALYZE;
SQL
    echo "  made $(psql -tA "$base" -c 'SELECT COUNT(*) FROM sessions') sessions in $((SECONDS - t0)) s; database $(psql -tA "$base" -c "SELECT pg_size_pretty(pg_database_size('kwbench'))")"
  fi
  local fresh="psql -q '$admin' -c 'DROP DATABASE IF EXISTS kwbench_run' -c 'CREATE DATABASE kwbench_run TEMPLATE kwbench' && psql -q '$run' -c 'VACUUM ANALYZE'"
  "$HYPERFINE" --runs "$RUNS" --prepare "$fresh" --export-json "$WORK/postgres.json" \
    -n 'keyward sessions prune' "$KW --database-url '$run' sessions prune --yes" \
    -n 'psql DELETE' "psql -q '$run' -c \"$(delete_sql 'now()')\""
  eval "$fresh"
  echo "  one prune: $("$KW" --database-url "$run" sessions prune --yes -o json | tr -d ' \n')"
  eval "$fresh"
  idle_logins "$run"
  eval "$fresh"
  logins_during "$run" 10 "$KW" --database-url "$run" sessions prune --yes -o json
  if [ -z "${KEEP:-}" ]; then
    psql -q "$admin" -c 'DROP DATABASE IF EXISTS kwbench_run' -c 'DROP DATABASE IF EXISTS kwbench'
  fi
}

case "$WHICH" in
  sqlite) bench_sqlite ;;
  postgres) bench_postgres ;;
  all) bench_sqlite; bench_postgres ;;
  *) echo "usage: $0 [sqlite|postgres|all]" >&2; exit 2 ;;
esac

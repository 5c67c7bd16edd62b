#!/usr/bin/env bash
# Benchmark of `keyward apikeys verify` (issue 11), not a test: run by hand,
# alone on the machine, and copy the figures into the README's performance
# table.
#
# Each run is a cold process (the release binary started, the key read from
# stdin, the store opened, one transaction, exit), as an application or a
# gateway script calls it. It times, with hyperfine:
#   - SQLite: `apikeys verify --key-stdin --ip … --permission …` of a service
#     key and of a user's key, against `db health` on the same fresh database
#     (target: verify within 1 ms of db health);
#   - a key with a bad checksum and no database at all (the URL names a
#     directory that does not exist; target: under 2 ms);
#   - PostgreSQL: the same verify against `db health`.
# Needs: cargo, python3, hyperfine; psql for PostgreSQL.
#
# Usage: scripts/bench-apikeys.sh [sqlite|postgres|all]   (default all)
# Environment: RUNS (300, hyperfine runs per command), WARMUP (30),
#   PGURL (postgres://postgres@127.0.0.1:5432, the server for the PostgreSQL
#   half; the script creates the database kwbench_apikeys there and drops it
#   at the end), WORK (a scratch directory, default a new temp dir).
set -euo pipefail

WHICH=${1:-all}
RUNS=${RUNS:-300}
WARMUP=${WARMUP:-30}
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
export KEYWARD_PBKDF2_ITERATIONS=1000 # only for the setup's one user
echo "work directory: $WORK; $RUNS runs per command"

field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# Mean and standard deviation in ms of one hyperfine JSON export.
mean_ms() {
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.2f" % (r["mean"]*1000))' "$1"
}
sd_ms() {
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.2f" % (r["stddev"]*1000))' "$1"
}

median_ms() {
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.2f" % (r["median"]*1000))' "$1"
}

# Times one command (stdin from $2, or none) into $WORK/$1.json. A refusal
# (exit 5) is the expected result of the bad-checksum run: IGNORE=1 allows it.
bench() {
  local name=$1 input=$2
  shift 2
  local in=(--input null) ign=()
  [[ -n $input ]] && in=(--input "$input")
  [[ ${IGNORE:-0} == 1 ]] && ign=(-i)
  "$HYPERFINE" -N --style none --warmup "$WARMUP" --runs "$RUNS" "${in[@]}" "${ign[@]}" \
    --export-json "$WORK/$name.json" "$*" >/dev/null
  printf '  %-34s mean %6s ms ± %-5s median %6s ms\n' "$name" "$(mean_ms "$WORK/$name.json")" \
    "$(sd_ms "$WORK/$name.json")" "$(median_ms "$WORK/$name.json")"
}

# A fresh database at URL $1 with a user and two keys; writes the keys to
# $WORK/$2-service.key and $WORK/$2-user.key.
setup() {
  local url=$1 label=$2
  "$KW" --database-url "$url" db init >/dev/null 2>&1
  echo 'correct horse battery staple 9' |
    "$KW" --database-url "$url" users add alice --email alice@example.com \
      --role developer --password-stdin >/dev/null 2>&1
  "$KW" --database-url "$url" apikeys create gateway --permission settings:read \
    --allow-ip 10.0.0.0/8 -o json 2>/dev/null | field key >"$WORK/$label-service.key"
  "$KW" --database-url "$url" apikeys create alice-ci --user alice \
    --permission settings:read --allow-ip 10.0.0.0/8 -o json 2>/dev/null |
    field key >"$WORK/$label-user.key"
  # The figures mean nothing unless the keys verify.
  "$KW" --database-url "$url" apikeys verify --key-stdin --ip 10.1.2.3 \
    --permission settings:read <"$WORK/$label-service.key" >/dev/null 2>&1
  "$KW" --database-url "$url" apikeys verify --key-stdin --ip 10.1.2.3 \
    --permission settings:read <"$WORK/$label-user.key" >/dev/null 2>&1
}

# verify of both keys and db health at $1, labelled $2; prints the difference.
compare() {
  local url=$1 label=$2
  local v=(--database-url "$url" apikeys verify --key-stdin --ip 10.1.2.3 --permission settings:read)
  bench "$label-db-health" "" "$KW" --database-url "$url" db health
  bench "$label-verify-service-key" "$WORK/$label-service.key" "$KW" "${v[@]}"
  bench "$label-verify-user-key" "$WORK/$label-user.key" "$KW" "${v[@]}"
  python3 - "$WORK" "$label" <<'EOF'
import json, sys
work, label = sys.argv[1], sys.argv[2]
r = lambda n: json.load(open(f"{work}/{label}-{n}.json"))["results"][0]
h = r("db-health")
for k in ("verify-service-key", "verify-user-key"):
    v = r(k)
    print(f"  {label} {k} - db health: mean {(v['mean'] - h['mean']) * 1000:+.2f} ms, "
          f"median {(v['median'] - h['median']) * 1000:+.2f} ms")
EOF
}

if [[ $WHICH == sqlite || $WHICH == all ]]; then
  echo "SQLite ($WORK/bench.db)"
  setup "sqlite://$WORK/bench.db" sqlite
  compare "sqlite://$WORK/bench.db" sqlite
  # A mistyped key: the last character changed, so the checksum fails.
  python3 - "$WORK" <<'EOF'
import sys
k = open(f"{sys.argv[1]}/sqlite-service.key").read().strip()
open(f"{sys.argv[1]}/bad.key", "w").write(k[:-1] + ("A" if k[-1] != "A" else "B") + "\n")
EOF
  # (The refusal's exit code is 5: check it once, then let hyperfine ignore it.)
  code=0
  "$KW" --database-url "sqlite://$WORK/no/such/dir/x.db" apikeys verify --key-stdin \
    <"$WORK/bad.key" >/dev/null 2>&1 || code=$?
  [[ $code == 5 ]] || { echo "bad checksum: exit $code, not 5" >&2; exit 1; }
  IGNORE=1 bench "bad-checksum-no-database" "$WORK/bad.key" \
    "$KW" --database-url "sqlite://$WORK/no/such/dir/x.db" apikeys verify --key-stdin
  bench "version (process start)" "" "$KW" --version
fi

if [[ $WHICH == postgres || $WHICH == all ]]; then
  db="$PGURL/kwbench_apikeys?sslmode=disable"
  admin="$PGURL/postgres?sslmode=disable"
  psql "$admin" -qc 'DROP DATABASE IF EXISTS kwbench_apikeys' -c 'CREATE DATABASE kwbench_apikeys' >/dev/null
  echo "PostgreSQL ($PGURL/kwbench_apikeys)"
  setup "$db" postgres
  compare "$db" postgres
  psql "$admin" -qc 'DROP DATABASE kwbench_apikeys' >/dev/null
fi

#!/usr/bin/env bash
# Benchmark of `keyward apikeys scan` (issue 11), not a test: run by hand,
# alone on the machine, and copy the figures into the README's performance
# table. Target: 100 MB of text in at most 1 s (release build).
#
# It writes SIZE_MB of log-like text (timestamps, levels, paths, query
# strings, JSON bodies, Python tracebacks with `kwargs`, so the finder's
# `kw` prefilter has candidates to reject) with a few keys scattered in it:
# three real keys of a fresh SQLite database, a rotated one, typos, and a
# well-formed key nobody has. Then hyperfine times, the file warm in the
# page cache:
#   - `keyward apikeys scan FILE` over that file (the database opened for
#     the lookups; exit 5 since active keys are in it: hyperfine -i);
#   - the same file with the keys removed (no database opened at all), the
#     finder's and reader's throughput alone;
#   - `cat FILE > /dev/null` and `wc -l FILE` (which also reads every byte
#     and counts newlines), for scale. (Not grep: GNU grep stops at the first
#     match when its output is /dev/null, as hyperfine's is.)
# Needs: cargo, python3, hyperfine.
#
# Usage: scripts/bench-scan.sh
# Environment: SIZE_MB (100), RUNS (10), WORK (a scratch directory, default
#   a new temp dir, removed at the end unless KEEP=1).
set -euo pipefail

SIZE_MB=${SIZE_MB:-100}
RUNS=${RUNS:-10}
HYPERFINE=${HYPERFINE:-$(command -v hyperfine || echo /root/.cargo/bin/hyperfine)}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-$(mktemp -d)}
trap '[ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"' EXIT

cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
BIN="$ROOT/target/release/keyward"
export HOME="$WORK/home" KEYWARD_PBKDF2_ITERATIONS=1000
mkdir -p "$HOME"
URL="sqlite://$WORK/bench.db"
kw() { "$BIN" --database-url "$URL" "$@"; }
kw db init >/dev/null 2>&1

keys=()
for name in partner-a ci-deploy billing-sync; do
    keys+=("$(kw apikeys create "$name" -o json 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')")
done

python3 - "$WORK/logs.txt" "$WORK/clean.txt" "$SIZE_MB" "${keys[@]}" <<'EOF'
import random, string, sys, zlib
out, clean, size_mb, keys = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
def b62(n, w):
    s = ""
    for _ in range(w):
        s = B62[n % 62] + s
        n //= 62
    return s
def rnd(n): return "".join(random.choice(B62) for _ in range(n))
def with_sum(body): return body + b62(zlib.crc32(body.encode()), 6)
random.seed(11)
unknown = with_sum(f"kw_{rnd(8)}_{rnd(32)}")
typo = keys[0][:20] + ("a" if keys[0][20] != "a" else "b") + keys[0][21:]
bad_refresh = f"kwr_{rnd(38)}"
plants = [f'API_KEY="{k}"' for k in keys] + [f"Authorization: Bearer {unknown}",
          f"key={typo}", f"refresh_token={bad_refresh}"]
paths = ["/api/v1/items", "/api/v1/users/42", "/health", "/login", "/static/app.js",
         "/api/v2/orders?page=3&sort=-created_at", "/metrics"]
levels = ["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"]
def line(i):
    r = random.random()
    ts = f"2030-01-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}.{i % 1000:03d}Z"
    if r < 0.6:
        return (f"{ts} {random.choice(levels)} http method=GET path={random.choice(paths)} "
                f"status={random.choice([200, 200, 200, 201, 304, 404, 500])} "
                f"duration_ms={random.randint(1, 900)} request_id={rnd(16)}\n")
    if r < 0.85:
        return (f'{ts} INFO audit {{"user":"user{i % 977}","action":"item.update",'
                f'"target":"{rnd(10)}","ip":"203.0.113.{i % 255}"}}\n')
    if r < 0.95:
        return (f"{ts} ERROR worker Traceback: File \"/srv/app/tasks.py\", line {i % 500}, "
                f"in run\\n    return fn(*args, **kwargs)\\nKeyError: 'kw_{rnd(5)}'\n")
    return f"{ts} DEBUG cache hit ratio={random.random():.4f} keys={random.randint(0, 10**6)}\n"
target = size_mb * 1000 * 1000
block = "".join(line(i) for i in range(20000)).encode()
with open(out, "wb") as f, open(clean, "wb") as g:
    written, n = 0, 0
    spots = sorted(random.sample(range(target // len(block) + 1), len(plants)))
    while written < target:
        chunk = block
        f.write(chunk); g.write(chunk)
        if n in spots:
            plant = ("2030-01-01T00:00:00Z WARN config " + plants[spots.index(n)] + "\n").encode()
            f.write(plant)
            written += len(plant)
        written += len(chunk)
        n += 1
EOF
ls -l "$WORK/logs.txt" "$WORK/clean.txt"
echo "findings in logs.txt (exit 5 expected: active keys):"
kw apikeys scan "$WORK/logs.txt" || true

"$HYPERFINE" --warmup 2 --runs "$RUNS" -i -N \
    --command-name "apikeys scan (${SIZE_MB} MB, 6 plants, SQLite lookups)" \
    "$BIN --database-url $URL apikeys scan -o json $WORK/logs.txt" \
    --command-name "apikeys scan (${SIZE_MB} MB, clean: no database)" \
    "$BIN --database-url $URL apikeys scan -o json $WORK/clean.txt" \
    --command-name "wc -l (${SIZE_MB} MB)" \
    "wc -l $WORK/logs.txt" \
    --command-name "cat > /dev/null (${SIZE_MB} MB)" \
    "sh -c 'cat $WORK/logs.txt > /dev/null'"

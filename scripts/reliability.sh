#!/usr/bin/env bash
# The reliability suite (RELIABILITY.md): property tests of every parser, the
# kill -9 crash harness and the concurrency soak, on SQLite and PostgreSQL.
#
# `cargo test` (and so CI) runs the short form of all three. This script runs
# either form on demand and writes the figures each test reports (one JSON
# line per test) to target/reliability/<form>-<UTC time>.jsonl, then a
# summary table (.md, the same name) that RELIABILITY.md quotes.
#
# Usage: scripts/reliability.sh [short|long] [all|properties|crash|soak]...
#   long: 1,000,000 cases per property (release build), 100 kill trials per
#   command and backend, a 600 s soak per backend (about 45 minutes on 2
#   cores, plus a release build).
# Environment:
#   KEYWARD_TEST_DATABASE_URL  the PostgreSQL server for the PostgreSQL half
#       (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable;
#       it must be reachable: the script fails rather than test one backend)
#   KEYWARD_PROP_CASES, KEYWARD_CRASH_TRIALS, KEYWARD_SOAK_SECS,
#   KEYWARD_SOAK_PROCS  override the form's sizes
#   KEYWARD_RELIABILITY_SEED  repeat a run's random choices (each failure
#       prints the seed it ran with)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

FORM=short
if [[ $# -gt 0 && ( $1 == short || $1 == long ) ]]; then
	FORM=$1
	shift
fi
SUITES=("$@")
if [[ ${#SUITES[@]} -eq 0 || ${SUITES[0]} == all ]]; then
	SUITES=(properties crash soak)
fi

if [[ $FORM == long ]]; then
	export KEYWARD_PROP_CASES=${KEYWARD_PROP_CASES:-1000000}
	export KEYWARD_CRASH_TRIALS=${KEYWARD_CRASH_TRIALS:-100}
	export KEYWARD_SOAK_SECS=${KEYWARD_SOAK_SECS:-600}
fi

export KEYWARD_TEST_DATABASE_URL=${KEYWARD_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
if ! psql "$KEYWARD_TEST_DATABASE_URL" -Atc 'select 1' >/dev/null 2>&1; then
	echo "reliability: FAILED: cannot reach PostgreSQL at $KEYWARD_TEST_DATABASE_URL" >&2
	echo "reliability: start it (pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start) or set KEYWARD_TEST_DATABASE_URL" >&2
	exit 1
fi

mkdir -p target/reliability
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
export KEYWARD_RELIABILITY_REPORT="$ROOT/target/reliability/$FORM-$STAMP.jsonl"
: >"$KEYWARD_RELIABILITY_REPORT"
echo "reliability: $FORM form (${SUITES[*]}); figures in $KEYWARD_RELIABILITY_REPORT" >&2

# The crash harness and the soak run the debug binary, as CI does: they set
# its clock with KEYWARD_TEST_NOW, which only debug builds honour. The long
# form's million cases per property run in a release build (under half an
# hour against hours in debug), with overflow checks and debug assertions on.
profile() {
	if [[ $1 == properties && $FORM == long ]]; then
		echo --release
	fi
}

# The release build keeps overflow checks and debug assertions, so a million
# cases can still catch an arithmetic overflow (a panic in debug, a silent
# wrap in a plain release build).
if [[ $FORM == long ]]; then
	export CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true
	export CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true
fi

status=0
for suite in "${SUITES[@]}"; do
	# shellcheck disable=SC2046 # profile prints one flag or nothing
	cargo test --no-run --quiet $(profile "$suite") --test "$suite"
	started=$(date +%s)
	# shellcheck disable=SC2046
	if cargo test --quiet $(profile "$suite") --test "$suite"; then
		result=passed
	else
		result=FAILED
		status=1
	fi
	printf '{"suite":"%s","case":"(whole crate)","result":"%s","secs":%d}\n' \
		"$suite" "$result" $(($(date +%s) - started)) >>"$KEYWARD_RELIABILITY_REPORT"
done

python3 "$ROOT/scripts/reliability-summary.py" "$KEYWARD_RELIABILITY_REPORT" \
	| tee "${KEYWARD_RELIABILITY_REPORT%.jsonl}.md"
exit $status

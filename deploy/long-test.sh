#!/usr/bin/env bash
# Runs one of the hub's long integration tests in release mode with its
# length in an environment variable, keeps the whole output in a log, prints
# the test's JSON figures, and shows the log's tail if the run fails.
#   bash deploy/long-test.sh FILTER LENGTH_VAR SECONDS JSON_KEY
# (deploy/chaos.sh and deploy/overload.sh call it.)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
filter="$1" var="$2" seconds="$3" key="$4"
bash deploy/setup.sh
bash adapters/contracts/build.sh >/dev/null
log="${TMPDIR:-/tmp}/switchyard-${filter%%::*}-$$.log"
set +e
env "$var=$seconds" cargo test --release --locked -p switchyard --test it \
  "$filter" -- --nocapture --test-threads 1 >"$log" 2>&1
rc=$?
set -e
grep -E "^\\{\"$key\"|^test |test result" "$log" || true
if [ "$rc" != 0 ]; then
  echo "$filter run failed (exit $rc); the last lines of $log:" >&2
  tail -40 "$log" >&2
fi
exit "$rc"

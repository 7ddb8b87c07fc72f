#!/usr/bin/env bash
# Overload run: origins dispatch three times what the destinations absorb
# for SECONDS (default 600), sampling the hub's memory, the lane backlog in
# Redis and /healthz latency; then the backlog drains. Prints one JSON line;
# fails unless everything is delivered exactly once.
#   bash deploy/overload.sh [SECONDS]   (CI runs 45 in the suite)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash deploy/setup.sh
bash adapters/contracts/build.sh >/dev/null
log="${TMPDIR:-/tmp}/switchyard-overload-$$.log"
set +e
OVERLOAD_SECONDS="${1:-600}" cargo test --release --locked -p switchyard --test it \
  overload:: -- --nocapture --test-threads 1 >"$log" 2>&1
rc=$?
set -e
grep -E '^\{"absorbed_per_second"|^test |test result' "$log" || true
if [ "$rc" != 0 ]; then
  echo "overload run failed (exit $rc); the last lines of $log:" >&2
  tail -40 "$log" >&2
fi
exit "$rc"

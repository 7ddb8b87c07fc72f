#!/usr/bin/env bash
# Chaos run: steady traffic between two anvil chains while the hub is killed
# with SIGKILL every 10 s, Redis (AOF on) is restarted, the origin's preferred
# RPC endpoint goes away, and the destination chain stops mining; prints one
# JSON line (sent, delivered, lost, duplicated, recovery times per fault) and
# fails unless lost = duplicated = 0.
#   bash deploy/chaos.sh [SECONDS]   (default 300; CI runs 60 in the suite)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash deploy/setup.sh
bash adapters/contracts/build.sh >/dev/null
log="${TMPDIR:-/tmp}/switchyard-chaos-$$.log"
set +e
CHAOS_SECONDS="${1:-300}" cargo test --release --locked -p switchyard --test it \
  chaos:: -- --nocapture --test-threads 1 >"$log" 2>&1
rc=$?
set -e
grep -E '^\{"chaos_seconds"|^test |test result' "$log" || true
if [ "$rc" != 0 ]; then
  echo "chaos run failed (exit $rc); the last lines of $log:" >&2
  tail -40 "$log" >&2
fi
exit "$rc"

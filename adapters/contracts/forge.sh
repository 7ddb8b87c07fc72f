#!/usr/bin/env bash
# Runs forge on Switchyard's contracts (adapters/contracts), offline, from any
# cwd: `forge.sh build [args]`, `forge.sh test [args]`. build.sh and test.sh
# are the two entry points.
#
# The machine has no internet: forge must use the project-local solc wrapper
# that deploy/setup.sh installs in .tools/bin (FOUNDRY_SOLC, absolute path, so
# this works whatever the cwd; foundry.toml has the same path relative to this
# folder) and must not try to download anything (FOUNDRY_OFFLINE). Artifacts
# go to adapters/contracts/out/<File>.sol/<Contract>.json.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tools="$root/.tools/bin"

if [ -x "$tools/forge" ]; then
  forge="$tools/forge"
elif command -v forge >/dev/null 2>&1; then
  forge="$(command -v forge)"
else
  echo "forge.sh: forge not found in $tools nor on PATH; run deploy/setup.sh first" >&2
  exit 1
fi
if [ ! -x "$tools/solc" ]; then
  echo "forge.sh: solc wrapper $tools/solc missing; run deploy/setup.sh first" >&2
  exit 1
fi

export FOUNDRY_SOLC="$tools/solc"
export FOUNDRY_OFFLINE=true
cd "$here"
cmd="$1"
shift
exec "$forge" "$cmd" --root "$here" "$@"

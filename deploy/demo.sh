#!/usr/bin/env bash
# Quick start, command 1: install what is missing, then run the local demo:
# real anvil chains, a real redis-server, the hub relaying between them.
# Extra arguments go to `switchyard devnet` (e.g. --chains 3 --messages 0).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash deploy/setup.sh
bash adapters/contracts/build.sh
cargo build --release --locked -p switchyard
exec target/release/switchyard devnet "$@"

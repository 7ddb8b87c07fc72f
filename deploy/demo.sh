#!/usr/bin/env bash
# Quick start, command 1: install what is missing, then run the local demo:
# real anvil chains, a real redis-server, the hub relaying between them.
# The hub's batches are signed by 3 independent attesters, each its own
# `switchyard run --role attester` process with its own key, Redis database
# and light clients; every Inbox wants 2 of them.
# Extra arguments go to `switchyard devnet` (e.g. --chains 3 --messages 0).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash deploy/setup.sh
bash adapters/contracts/build.sh
cargo build --release --locked -p switchyard
exec target/release/switchyard devnet --attesters 3 --threshold 2 "$@"

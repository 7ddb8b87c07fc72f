#!/usr/bin/env bash
# Chaos run: steady traffic between two anvil chains while the hub is killed
# with SIGKILL every 10 s, Redis (AOF on) is restarted, the origin's preferred
# RPC endpoint goes away, and the destination chain stops mining; prints one
# JSON line (sent, delivered, lost, duplicated, recovery times per fault) and
# fails unless lost = duplicated = 0.
#   bash deploy/chaos.sh [SECONDS]   (default 300; CI runs 60 in the suite)
exec bash "$(dirname "${BASH_SOURCE[0]}")/long-test.sh" chaos:: CHAOS_SECONDS "${1:-300}" chaos_seconds

#!/usr/bin/env bash
# Overload run: origins dispatch three times what the destinations absorb
# for SECONDS (default 600), sampling the hub's memory, the lane backlog in
# Redis and /healthz latency; then the backlog drains. Prints one JSON line;
# fails unless everything is delivered exactly once.
#   bash deploy/overload.sh [SECONDS]   (CI runs 45 in the suite)
exec bash "$(dirname "${BASH_SOURCE[0]}")/long-test.sh" overload:: OVERLOAD_SECONDS "${1:-600}" absorbed_per_second

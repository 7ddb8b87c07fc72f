#!/usr/bin/env bash
# Runs the contracts' forge tests offline (see forge.sh). Extra arguments go
# to forge (e.g. ./test.sh -vv --gas-report).
exec bash "$(dirname "${BASH_SOURCE[0]}")/forge.sh" test "$@"

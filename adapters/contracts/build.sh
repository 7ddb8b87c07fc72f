#!/usr/bin/env bash
# Builds the contracts offline (see forge.sh). Extra arguments go to forge
# (e.g. ./build.sh --force).
exec bash "$(dirname "${BASH_SOURCE[0]}")/forge.sh" build "$@"

#!/usr/bin/env bash
# Scaling evidence for BENCHMARKS.md: builds the release binary, provides
# matplotlib in a project-local virtualenv (.tools/venv), runs
# deploy/scaling.py (arguments passed through, e.g. --seconds 60).
# Output: docs/bench/scaling.json and docs/bench/scaling.png.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh >/dev/null
cargo build --release -p switchyard
if [ ! -x .tools/venv/bin/python ]; then
  if ! python3 -c 'import ensurepip' 2>/dev/null; then
    # Debian ships venv support separately.
    sudo_cmd=""
    if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3-venv >/dev/null
  fi
  python3 -m venv .tools/venv
fi
if ! .tools/venv/bin/python -c 'import matplotlib' 2>/dev/null; then
  .tools/venv/bin/pip install --quiet 'matplotlib==3.9.2'
fi
exec .tools/venv/bin/python deploy/scaling.py "$@"

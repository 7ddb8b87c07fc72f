#!/usr/bin/env bash
# Scaling evidence for BENCHMARKS.md: builds the release binary, provides
# matplotlib in a project-local virtualenv (.tools/venv), runs
# deploy/scaling.py (arguments passed through, e.g. --seconds 60).
# Sections: routes, body, processes (one Redis), and cluster: a grid of hub
# processes x Redis Cluster masters (bench --redis-cluster M --processes P;
# defaults grow with the cores, override with --processes-list 1,2,4
# --masters-list 3,6 --cluster-routes 48), with a Markdown table and a
# linear capacity model printed and stored in the JSON.
# `--only cluster` (comma list of sections) runs just those and keeps the
# other sections of the existing docs/bench/scaling.json.
# Output: docs/bench/scaling.json, docs/bench/scaling.png (routes, body,
# processes) and docs/bench/scaling-cluster.png (cluster grid, model).
# Redraw without running: deploy/scaling.sh --plot-only
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

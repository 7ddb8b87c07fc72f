#!/usr/bin/env bash
# Quick start, command 2: the whole test suite. .ci/run calls this.
# Installs what is missing (deploy/setup.sh), builds the contracts, then runs
# formatting and lint checks, the contract tests and every Rust test
# (unit, vectors, property tests, end-to-end against real anvil and Redis).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
step() { printf '\n=== %s ===\n' "$*"; }

# A clean build of the suite (debug workspace, release benches, the fuzz
# targets' sanitizer build) takes about 10 GiB of disk. Say so up front
# rather than fail half way with "No space left on device".
need_kib=$((10 * 1024 * 1024))
free_kib=$(df -Pk . | awk 'NR == 2 { print $4 }')
printf 'disk: %s GiB free in %s (the suite needs about 10 GiB)\n' "$((free_kib / 1024 / 1024))" "$root"
if [ "${free_kib:-0}" -lt "$need_kib" ]; then
  echo "test.sh: only $((free_kib / 1024)) MiB free on the disk of $root; expected at least 10 GiB for the builds" >&2
  exit 1
fi
if [ "${CI:-}" = true ]; then
  # One clean build: incremental caches (GiBs) would never be reused.
  export CARGO_INCREMENTAL=0
fi

step "setup"
bash deploy/setup.sh

step "contracts: build and forge tests"
bash adapters/contracts/build.sh
bash adapters/contracts/test.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "cargo test"
cargo test --locked --workspace --no-fail-fast

step "long runs: chaos, overload, kill loops, the browser (relayer/tests/long)"
# Not part of a plain `cargo test` (the target has `test = false`), so that
# the crate's own tests stay quick; the suite runs them here.
cargo test --locked -p switchyard --test long --no-fail-fast

step "fuzz smoke: each fuzz target ~15 s (deploy/fuzz.sh; seed replay on stable without nightly)"
bash deploy/fuzz.sh --smoke
if [ "${CI:-}" = true ]; then
  # The sanitizer build (~2 GiB) is not used again in this run.
  rm -rf fuzz/target
fi

step "Alert rules: promtool check rules, promtool test rules (deploy/promtool-test.sh)"
bash deploy/promtool-test.sh

step "Helm chart: lint, render, kubernetes-validate, schema refusals, config check"
# After cargo test, so that the built binary checks the rendered hub.toml.
bash deploy/chart-test.sh

step "criterion benchmarks, smoke mode (each runs once, correctness only)"
cargo test --locked --workspace --benches

step "Container image without Docker: deploy/image.sh (mmdebstrap + buildah on deploy/Dockerfile), the hub run from its root filesystem (deploy/image-test.sh)"
# Last: it needs a release build of the production binary (--no-default-
# features), 11 min from cold on 2 shared cores (fewer where the benches'
# release-profile dependencies are reused). Then the image takes under a
# minute and the run from its root filesystem about 10 s. Skipped, with the
# reason, when not root.
bash deploy/image-test.sh

#!/usr/bin/env bash
# Quick start, command 2: the whole test suite. .ci/run calls this.
# Installs what is missing (deploy/setup.sh), builds the contracts, then runs
# formatting and lint checks, the contract tests and every Rust test
# (unit, vectors, property tests, end-to-end against real anvil and Redis).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
step() { printf '\n=== %s ===\n' "$*"; }

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

step "fuzz smoke: each fuzz target ~15 s (deploy/fuzz.sh; seed replay on stable without nightly)"
bash deploy/fuzz.sh --smoke

step "Helm chart: lint, render, kubernetes-validate, schema refusals, config check"
# After cargo test, so that the built binary checks the rendered hub.toml.
bash deploy/chart-test.sh

step "criterion benchmarks, smoke mode (each runs once, correctness only)"
cargo test --locked --workspace --benches

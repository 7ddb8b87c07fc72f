#!/usr/bin/env bash
# Fuzzes Switchyard's decoders of untrusted bytes (fuzz/: cargo-fuzz
# targets message, evm_rlp, beacon_ssz, beacon_json, cometbft_json, config_toml,
# lane_entry; see docs/security.md, "Fuzzing").
#
#   deploy/fuzz.sh --smoke            each target ~15 s (CI: deploy/test.sh)
#   deploy/fuzz.sh [--seconds N]      each target N s (default 600), one at a time
#   deploy/fuzz.sh --replay           stable only: seeds + mutations via cargo test
#   deploy/fuzz.sh ... TARGET...      only these targets
#
# With a nightly toolchain, the libFuzzer binaries run (built once by
# `cargo +nightly fuzz build`, release with debug assertions, so integer
# overflow panics too). Without nightly, the same target bodies run on
# stable over the seed corpus and a few thousand mutations of it
# (fuzz/tests/replay.rs). Seeds come from ../shared/vectors at run time
# (SWITCHYARD_VECTORS overrides). Prints, per target, the executions and
# whether it crashed; exits non-zero on any crash. Crashing inputs are kept
# in fuzz/artifacts/<target>/, logs in fuzz/target/fuzz-logs/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

all_targets=(message evm_rlp beacon_ssz beacon_json cometbft_json config_toml lane_entry)
seconds=600
mode=libfuzzer
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) seconds=15 ;;
    --seconds) seconds="$2"; shift ;;
    --replay) mode=replay ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

log() { printf '[fuzz] %s\n' "$*" >&2; }
nice_cmd=(nice -n 19)

if [ "$mode" = libfuzzer ] && ! rustup toolchain list 2>/dev/null | grep '^nightly' >/dev/null; then
  log "no nightly toolchain: running the target bodies on stable instead (seed replay + mutations)"
  mode=replay
fi

if [ "$mode" = replay ]; then
  # A few thousand mutated inputs per target; more for a long run.
  iters=$(( seconds <= 15 ? 20000 : seconds * 200 ))
  start=$(date +%s)
  mkdir -p fuzz/target
  set +e
  SWITCHYARD_FUZZ_REPLAY_ITERS="$iters" SWITCHYARD_FUZZ_TARGET="${targets[*]}" \
    "${nice_cmd[@]}" cargo test --manifest-path fuzz/Cargo.toml \
      --no-default-features --test replay -- --nocapture >fuzz/target/replay.log 2>&1
  status=$?
  set -e
  grep -E '^(error|test result|[a-z_]+: [0-9]+ seeds)|panicked' fuzz/target/replay.log \
    || tail -20 fuzz/target/replay.log
  log "replay finished in $(( $(date +%s) - start )) s (log: fuzz/target/replay.log)"
  exit "$status"
fi

# --- libFuzzer --------------------------------------------------------------
export PATH="$root/.tools/bin:$PATH"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  log "installing cargo-fuzz into .tools/"
  "${nice_cmd[@]}" cargo install cargo-fuzz --locked --version 0.13.2 --root "$root/.tools" >/dev/null
fi

# -O: release; -a: debug assertions (overflow checks). No sanitizer: the
# crates fuzzed forbid unsafe code, and panics are what is looked for.
fuzz_flags=(-O -a -s none)
start=$(date +%s)
log "building the fuzz targets (cargo +nightly fuzz build)"
(cd fuzz && "${nice_cmd[@]}" cargo +nightly fuzz build "${fuzz_flags[@]}" 2>&1 \
  | grep -vE '^\s+(Compiling|Checking|Fresh)' >&2) || { log "build failed"; exit 1; }
log "build: $(( $(date +%s) - start )) s"

bin_dir="fuzz/target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"
logs="fuzz/target/fuzz-logs"
mkdir -p "$logs"
crashed=0
summary=()
for t in "${targets[@]}"; do
  corpus="fuzz/corpus/$t"
  artifacts="fuzz/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  SWITCHYARD_FUZZ_WRITE_SEEDS="$corpus" "$bin_dir/$t" 2>&1 | tail -1 >&2
  seeds=$(ls "$corpus" | grep -c '^seed-' || true)
  log "$t: ${seconds} s, corpus $(ls "$corpus" | wc -l) inputs ($seeds seeds)"
  set +e
  t0=$(date +%s)
  "${nice_cmd[@]}" "$bin_dir/$t" "$corpus" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" >"$logs/$t.log" 2>&1
  rc=$?
  set -e
  elapsed=$(( $(date +%s) - t0 ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -1)
  done_line=$(grep -E '^#[0-9]+' "$logs/$t.log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$done_line")
  if [ "$rc" -eq 0 ]; then
    result="no crash"
  else
    result="CRASH (exit $rc; see $logs/$t.log and $artifacts/)"
    crashed=1
    grep -E 'panicked|ERROR|Test unit written' "$logs/$t.log" | head -5 >&2 || true
  fi
  line=$(printf '%-14s %5s s  execs %-10s (%s/s)  cov %-5s ft %-6s corpus %-10s seeds %-4s %s' \
    "$t" "$elapsed" "${execs:-?}" "$(( ${execs:-0} / (elapsed > 0 ? elapsed : 1) ))" \
    "${cov:-?}" "${ft:-?}" "${corp:-?}" "$seeds" "$result")
  echo "$line"
  summary+=("$line")
done
echo
echo "=== fuzz summary ($(( $(date +%s) - start )) s in all) ==="
printf '%s\n' "${summary[@]}"
exit "$crashed"

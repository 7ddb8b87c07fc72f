#!/usr/bin/env bash
# The alert rules under promtool (Debian's prometheus package, installed by
# deploy/setup.sh). deploy/test.sh calls it; runs in about a second:
#   1. `promtool check rules` on every rule file in deploy/prometheus/
#      (alerts.yml is the chart's files/alerts.yml, the PrometheusRule's
#      groups), and `promtool check config --syntax-only` on the compose
#      stack's Prometheus config;
#   2. `promtool test rules` on deploy/prometheus/tests/*.yml;
#   3. every alert of every rule file has a unit test where it fires (a
#      non-empty exp_alerts) and one where it stays quiet (exp_alerts: []);
#   4. the checks bite: a copy of alerts.yml with a malformed expression
#      must be refused by `promtool check rules`, and a copy whose first
#      alert has another severity must fail the unit tests.
# promtool's own output is printed for every failure.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if ! command -v promtool >/dev/null 2>&1; then
  bash deploy/setup.sh >/dev/null 2>&1 || bash deploy/setup.sh
fi
py="$root/.tools/venv/bin/python"
if [ ! -x "$py" ]; then py=python3; fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }

printf '%s\n' "$(promtool --version 2>&1 | head -1)"

# --- 1. every rule file, and the compose Prometheus config ----------------------
rule_files=()
for f in deploy/prometheus/*.yml deploy/prometheus/*.yaml; do
  if [ -e "$f" ]; then rule_files+=("$f"); fi
done
if [ "${#rule_files[@]}" -eq 0 ]; then
  bad "no rule file in deploy/prometheus"
fi
for f in "${rule_files[@]}"; do
  if promtool check rules --lint=all --lint-fatal "$f" >"$out/check.log" 2>&1; then
    ok "promtool check rules $f: $(grep -o '[0-9]* rules found' "$out/check.log")"
  else
    bad "promtool check rules $f"; cat "$out/check.log"
  fi
done
# The compose stack mounts the rules at /etc/prometheus/alerts.yml, a path of
# the container: the syntax only here (the rules were checked above).
if promtool check config --syntax-only deploy/compose/prometheus.yml >"$out/config.log" 2>&1; then
  ok "promtool check config --syntax-only deploy/compose/prometheus.yml"
else
  bad "promtool check config deploy/compose/prometheus.yml"; cat "$out/config.log"
fi

# --- 2. unit tests ----------------------------------------------------------------
test_files=(deploy/prometheus/tests/*.yml)
if promtool test rules "${test_files[@]}" >"$out/test.log" 2>&1; then
  ok "promtool test rules ${test_files[*]}"
else
  bad "promtool test rules"; cat "$out/test.log"
fi

# --- 3. a test per alert, firing and quiet --------------------------------------
if "$py" - "${#rule_files[@]}" "${rule_files[@]}" "${test_files[@]}" <<'PY' >"$out/cover.log" 2>&1; then
import sys
import yaml

n = int(sys.argv[1])
rule_files, test_files = sys.argv[2:2 + n], sys.argv[2 + n:]
alerts = []
for f in rule_files:
    for g in yaml.safe_load(open(f))["groups"]:
        alerts += [r["alert"] for r in g["rules"] if "alert" in r]
fires, quiet = set(), set()
for f in test_files:
    for t in yaml.safe_load(open(f))["tests"]:
        for a in t.get("alert_rule_test", []):
            (fires if a.get("exp_alerts") else quiet).add(a["alertname"])
problems = []
for a in alerts:
    if a not in fires:
        problems.append(f"{a}: no test where it fires (non-empty exp_alerts)")
    if a not in quiet:
        problems.append(f"{a}: no test where it stays quiet (exp_alerts: [])")
for a in sorted((fires | quiet) - set(alerts)):
    problems.append(f"{a}: tested, but no rule file defines it")
print("\n".join(problems) if problems else f"{len(alerts)} alerts, each fires and stays quiet in a test")
sys.exit(1 if problems else 0)
PY
  ok "$(cat "$out/cover.log")"
else
  bad "alerts without unit tests:"; cat "$out/cover.log"
fi

# --- 4. the checks bite ------------------------------------------------------------
# Copies only: the real files stay as they are.
mkdir -p "$out/bite/tests"
cp deploy/prometheus/tests/*.yml "$out/bite/tests/"
"$py" - deploy/prometheus/alerts.yml "$out/bite" <<'PY'
import re, sys
src, dst = sys.argv[1], sys.argv[2]
text = open(src).read()
# An unclosed parenthesis in the first one-line expression.
broken, n = re.subn(r"(?m)^(\s*expr: )([^|>\s].*)$", r"\1(\2", text, count=1)
assert n == 1, "no one-line expr in alerts.yml"
open(f"{dst}/malformed.yml", "w").write(broken)
# The first alert's severity changed: a unit test must notice.
changed, n = re.subn(r"(?m)^(\s*severity: )(\w+)$", r"\1changed", text, count=1)
assert n == 1, "no severity label in alerts.yml"
open(f"{dst}/alerts.yml", "w").write(changed)
PY
if promtool check rules "$out/bite/malformed.yml" >"$out/malformed.log" 2>&1; then
  bad "promtool check rules accepted a malformed expression"
elif grep -q 'parse error\|could not parse' "$out/malformed.log"; then
  ok "a malformed expression is refused: $(grep -m1 'parse error\|could not parse' "$out/malformed.log" | sed 's|^.*/malformed.yml: ||' | cut -c1-220)"
else
  bad "malformed expression refused without a parse error:"; cat "$out/malformed.log"
fi
if promtool test rules "$out/bite/tests/"*.yml >"$out/bite.log" 2>&1; then
  bad "the unit tests pass with a changed severity"
elif grep -q 'severity="changed"' "$out/bite.log"; then
  ok "a changed severity fails the unit tests: $(grep -m1 -o 'alertname: [A-Za-z]*, time: [0-9a-z]*' "$out/bite.log")"
else
  bad "the unit tests fail with a changed severity, but not on it:"; cat "$out/bite.log"
fi

printf '\npromtool: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]

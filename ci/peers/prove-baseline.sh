#!/usr/bin/env bash
# Prove the three promises of a baseline on a real run (by default: ContextForge's):
#   1. the run with the baseline exits 0;
#   2. deleting ANY one entry makes it exit 1 (that failure is new again; `flaky: true` entries,
#      whose check passes in some runs, are named and skipped);
#   3. an entry whose check now passes makes it exit 1 (stale) until re-blessed.
# (1) is the live gate itself (ci/peers/contextforge.sh). (2) is checked for every entry and (3)
# for a passing check, against the saved report.json with `mcpgw-conformance gate` (no request
# is sent again). With --live, (2) and (3) are also shown once each against the live gateway.
#
# Usage: ci/peers/prove-baseline.sh [--live] [--report DIR] [--baseline FILE]
#   --report DIR   use the report of an earlier gate run instead of running the gate first
# Exit: 0 when all three hold; 1 otherwise (each broken promise is printed).
set -euo pipefail
cd "$(dirname "$0")/../.."
LIVE=0; REPORT=""; BASELINE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --live) LIVE=1 ;;
    --report) REPORT="$2"; shift ;;
    --baseline) BASELINE="$2"; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
BASELINE="${BASELINE:-${MCPGW_CF_BASELINE:-baselines/contextforge-1.1.0.yaml}}"
WORK="$(mktemp -d)"; trap 'rm -rf "$WORK"' EXIT
say() { printf '[prove-baseline] %s\n' "$*"; }
BROKEN=0
expect() { # expect CODE what -- command...
  local want="$1" what="$2"; shift 3
  set +e; "$@" > "$WORK/out" 2>&1; local got=$?; set -e
  if [ "$got" = "$want" ]; then say "ok   ($got) $what"; else
    say "FAIL (exit $got, wanted $want) $what"; sed 's/^/    /' "$WORK/out"; BROKEN=1; fi
}

# Entry blocks start with `- scenario:` at column 0; print the file without block number $1.
without_entry() {
  awk -v n="$1" '/^- scenario:/{i++} !(i==n && (/^- scenario:/ || /^  /)) {print}' "$BASELINE"
}
entries=$(grep -c '^- scenario:' "$BASELINE")

if [ -z "$REPORT" ]; then
  REPORT="$WORK/reports"
  say "1. live gate run with $BASELINE"
  expect 0 "the run with the baseline exits 0" -- \
    env MCPGW_CF_REPORT_DIR="$REPORT" MCPGW_CF_BASELINE="$BASELINE" bash ci/peers/contextforge.sh
fi
[ -f "$REPORT/report.json" ] || { say "no $REPORT/report.json"; exit 1; }
cargo build -q -p mcpgw-conformance
BIN=target/debug/mcpgw-conformance
expect 0 "the saved report matches the baseline exactly" -- "$BIN" gate --report "$REPORT" --baseline "$BASELINE"

say "2. deleting each of the $entries entries, one at a time"
for i in $(seq 1 "$entries"); do
  without_entry "$i" > "$WORK/minus.yaml"
  id=$(awk -v n="$i" '/^- scenario:/{i++; if (i==n) {sub(/^- scenario: */, ""); gsub(/"/, ""); print; exit}}' "$BASELINE")
  if awk -v n="$i" '/^- scenario:/{i++} i==n && /^  flaky: true/{found=1} END{exit !found}' "$BASELINE"; then
    # A flaky entry's check passes in some runs: deleting it fails the gate only when it failed.
    say "skip (flaky entry, its verdict varies between runs) entry $i ($id)"
    continue
  fi
  expect 1 "without entry $i ($id): exit 1" -- "$BIN" gate --report "$REPORT" --baseline "$WORK/minus.yaml"
  grep -q "new failure" "$WORK/out" || { say "FAIL: no new failure named without entry $i"; BROKEN=1; }
done

say "3. an entry for a check that passes (a fixed defect) is stale"
passing=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1] + "/report.json"))
print(next(c["id"] for s in r["scenarios"] if s["verdict"] != "NOT-APPLICABLE" for c in s["checks"] if c["verdict"] == "PASS"))
' "$REPORT")
{ cat "$BASELINE"; printf -- '- scenario: %s\n  reason: pretend it still fails\n  link: ""\n' "$passing"; } > "$WORK/plus.yaml"
expect 1 "with a stale entry for $passing: exit 1" -- "$BIN" gate --report "$REPORT" --baseline "$WORK/plus.yaml"
grep -q "stale" "$WORK/out" || { say "FAIL: the stale entry is not named"; BROKEN=1; }
cp "$WORK/plus.yaml" "$WORK/rebless.yaml"
expect 0 "re-blessing drops it: exit 0" -- "$BIN" gate --report "$REPORT" --baseline "$WORK/rebless.yaml" --bless
if grep -q "$passing" "$WORK/rebless.yaml"; then say "FAIL: re-blessing kept the stale entry"; BROKEN=1; fi

if [ "$LIVE" = 1 ]; then
  say "live: the same two against the running gateway"
  without_entry 1 > "$WORK/minus.yaml"
  expect 1 "live run without entry 1: exit 1" -- env MCPGW_CF_BASELINE="$WORK/minus.yaml" \
    MCPGW_CF_REPORT_DIR="$WORK/live-minus" bash ci/peers/contextforge.sh
  expect 1 "live run with a stale entry: exit 1" -- env MCPGW_CF_BASELINE="$WORK/plus.yaml" \
    MCPGW_CF_REPORT_DIR="$WORK/live-plus" bash ci/peers/contextforge.sh
  [ -n "${MCPGW_PROOF_KEEP:-}" ] && cp -r "$WORK/live-minus" "$MCPGW_PROOF_KEEP" || true
fi

[ "$BROKEN" = 0 ] && say "all three promises hold" || say "BROKEN: see above"
exit "$BROKEN"

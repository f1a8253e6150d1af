#!/usr/bin/env bash
# Regression gate against the real IBM ContextForge: install it (cached) and start it with a
# fresh database, run the conformance suite against it with its baseline, then pass-through
# fidelity (ci/peers/fidelity-step.sh; same baseline, `fidelity/...` entries), then a fuzz campaign
# (MCPGW_GATE_FUZZ_CASES, default 2000, 0 skips it; MCPGW_GATE_FUZZ_SEED, default 1), write
# reports, check through the admin API that nothing was left behind, and stop it (always).
#
# Usage: ci/peers/contextforge.sh [--bless] [more `mcpgw-conformance run` arguments...]
#   --bless   rewrite the baseline from this run (entries that still fail keep their reasons; new
#             failures get a TODO reason to replace) and accept snapshots that do not exist yet
#   e.g.      ci/peers/contextforge.sh --scenario rpc/
#
# Exit codes:
#   0  the gate passed: no failure outside the baseline, no stale baseline entry
#   1  the gate failed: new failures or stale entries (see the reports), or fixtures left behind
#   2  harness usage or configuration error (malformed scenario, missing baseline, target refused)
#   3  NOT RUN: ContextForge could not be installed because the package registry (PyPI) is
#      unreachable; nothing was tested. Callers report this loudly and decide; it is not a pass.
#   4  ContextForge could not be installed or started for another reason (a real failure)
#
# Environment:
#   MCPGW_CF_PORT        port to run it on (default: the first free one in 4600-4620)
#   MCPGW_CF_REPORT_DIR  reports (default: target/conformance/contextforge)
#   MCPGW_CF_BASELINE    baseline (default: baselines/contextforge-<version run.sh picked>.yaml)
#   MCPGW_PEERS_DIR      where contextforge/run.sh and stop.sh live (default: ../shared/peers
#                        beside the repository, else /work/shared/peers)
#   CF_HOME, CF_VERSION, CF_PYTHON, CF_EXTRA_ENV, CF_WORKERS  passed on to run.sh (see its header)
#   GITHUB_STEP_SUMMARY  when set, summary.md (or the NOT RUN notice) is appended to it
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
T0=$(date +%s)
log() { printf '[contextforge-gate] %s\n' "$*" >&2; }
since() { echo $(( $(date +%s) - $1 )); }
. ci/peers/fuzz-campaign.sh
. ci/peers/fidelity-step.sh
. ci/peers/contextforge-common.sh

REPORTS="${MCPGW_CF_REPORT_DIR:-$ROOT/target/conformance/contextforge}"
mkdir -p "$REPORTS"
# Only this script's own files: a report directory may be shared with other things.
rm -f "$REPORTS"/{report.json,junit.xml,summary.md,report.html,contextforge.log}

PORT="${MCPGW_CF_PORT:-}"
if [ -z "$PORT" ]; then
  for p in $(seq 4600 4620); do port_free "$p" && { PORT=$p; break; }; done
  [ -n "$PORT" ] || { log "ERROR: no free port in 4600-4620 (set MCPGW_CF_PORT)"; exit 4; }
fi

# A state directory of our own: a fresh database every run, and nothing shared with other runs.
WORK="$(mktemp -d "${TMPDIR:-/tmp}/mcpgw-cf-gate.XXXXXX")"
export CF_STATE="$WORK/state"
stop_gateway() {
  if [ -f "$CF_STATE/gw.pid" ]; then
    "$PEERS/contextforge/stop.sh" "$PORT" >&2 || true
  fi
  [ -f "$CF_STATE/gw.log" ] && cp "$CF_STATE/gw.log" "$REPORTS/contextforge.log" 2>/dev/null || true
  rm -rf "$WORK"
}
trap stop_gateway EXIT

not_run() {
  local why="$1"
  log "================================================================"
  log "NOT RUN: ContextForge gate skipped: $why"
  log "Nothing was tested against ContextForge. Exit code 3."
  log "================================================================"
  local note="## MCP gateway conformance against ContextForge: NOT RUN"$'\n\n'"$why. Nothing was tested; exit code 3."
  printf '%s\n' "$note" > "$REPORTS/summary.md"
  [ -n "${GITHUB_STEP_SUMMARY:-}" ] && printf '%s\n' "$note" >> "$GITHUB_STEP_SUMMARY"
  exit 3
}

# ---- 1. install (cached) and start ----
log "starting ContextForge on 127.0.0.1:$PORT (peers: $PEERS)"
T_START=$(date +%s)
if ! "$PEERS/contextforge/run.sh" "$PORT" > "$WORK/run.out" 2> "$WORK/run.err"; then
  cat "$WORK/run.err" >&2
  if grep -q "installing mcp-contextforge-gateway" "$WORK/run.err" && ! registry_reachable; then
    not_run "pip cannot reach the package index to install mcp-contextforge-gateway"
  fi
  log "ERROR: ContextForge could not be installed or started (see above)"
  printf '## MCP gateway conformance against ContextForge: FAILED\n\nContextForge could not be installed or started (exit code 4); see the job log.\n' \
    | tee "$REPORTS/summary.md" >> "${GITHUB_STEP_SUMMARY:-/dev/null}"
  exit 4
fi
grep -q "installing mcp-contextforge-gateway" "$WORK/run.err" && INSTALL=cold || INSTALL=cached
START_S=$(since "$T_START")
set -a; . "$CF_STATE/connection.env"; set +a
log "ContextForge $VERSION up at $URL in ${START_S}s (install: $INSTALL)"

BASELINE="${MCPGW_CF_BASELINE:-baselines/contextforge-$VERSION.yaml}"
if [ ! -f "$BASELINE" ] && [ "$BLESS" = 0 ]; then
  log "ERROR: no baseline $BASELINE for ContextForge $VERSION (create it with --bless)"
  exit 2
fi

# ---- 2. the harness ----
T_BUILD=$(date +%s)
cargo build -q -p mcpgw-conformance
BIN="$ROOT/target/debug/mcpgw-conformance"
BUILD_S=$(since "$T_BUILD")

python3 ci/peers/inventory.py "$URL" "$TOKEN" --out "$WORK/before.json" > /dev/null

# ---- 3. the suite ----
T_SUITE=$(date +%s)
RUN=(run --quiet --target "$URL" --token="$TOKEN" --jwt-secret="$JWT_SECRET"
     --profile contextforge --baseline "$BASELINE" --report-dir "$REPORTS")
cf_run_suite "$BIN" "${RUN[@]}"
SUITE_S=$(since "$T_SUITE")

# ---- 3b. pass-through fidelity: the harness's fidelity fixture registered as a gateway, the
# same conversations directly and through ContextForge; differences outside the baseline's
# `fidelity/...` entries fail the gate (reports in $REPORTS/fidelity) ----
T_FID=$(date +%s)
FIDRC=0
FID_TARGET=(--target "$URL" --token="$TOKEN" --jwt-secret="$JWT_SECRET" --profile contextforge
            --baseline "$BASELINE")
# colliding-ids runs last (step 6): 100 calls at once leave ContextForge 1.1.0 answering nothing.
FEATURES=$("$BIN" fidelity --list | awk '{print $1}' | grep -vx colliding-ids | paste -sd, -)
gate_fidelity contextforge-gate "$BIN" "$REPORTS/fidelity" "$BLESS" "${FID_TARGET[@]}" \
  --feature "$FEATURES" || FIDRC=$?
[ "$RC" = 0 ] && RC=$FIDRC
FID_S=$(since "$T_FID")

# ---- 4. a fuzz campaign: fixed seed and case count; a finding outside the baseline's
# `fuzz_findings` fails the gate, and is shrunk and written as a scenario under the reports ----
T_FUZZ=$(date +%s)
if [ "$BLESS" = 0 ]; then
  FRC=0
  gate_fuzz_campaign contextforge-gate "$BIN" "$REPORTS" --target "$URL" --token="$TOKEN" \
    --jwt-secret="$JWT_SECRET" --profile contextforge --baseline "$BASELINE" || FRC=$?
  [ "$RC" = 0 ] && RC=$FRC
fi
FUZZ_S=$(since "$T_FUZZ")

# ---- 5. nothing left behind (by the suite or the campaign) ----
log "admin inventory after the run (what the run created and did not delete):"
if ! python3 ci/peers/inventory.py "$URL" "$TOKEN" --compare "$WORK/before.json" >&2; then
  log "ERROR: the run left fixtures behind"
  [ "$RC" = 0 ] && RC=1
fi

# ---- 6. fidelity's colliding-ids, last: 2 clients x 50 calls at once with the same ids. On
# ContextForge 1.1.0 none is answered and it then answers nothing at all (initialize, the admin
# API), so it runs after everything else needs ContextForge, with a 5 s bound (which also bounds
# each request of the fixture's cleanup, which waits out that unresponsiveness) ----
T_COL=$(date +%s)
COLRC=0
MCPGW_GATE_FIDELITY_SAMPLES=0 gate_fidelity contextforge-gate "$BIN" \
  "$REPORTS/fidelity-colliding-ids" "$BLESS" "${FID_TARGET[@]}" --feature colliding-ids \
  --timeout 5 || COLRC=$?
[ "$RC" = 0 ] && RC=$COLRC
FID_S=$(( FID_S + $(since "$T_COL") ))

[ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -f "$REPORTS/summary.md" ] && cat "$REPORTS/summary.md" >> "$GITHUB_STEP_SUMMARY"
log "reports: $REPORTS/{report.html,summary.md,report.json,junit.xml}, fidelity: $REPORTS/fidelity/report.html"
log "timings: start ${START_S}s (install $INSTALL), harness build ${BUILD_S}s, suite ${SUITE_S}s, fidelity ${FID_S}s, fuzz ${FUZZ_S}s, total $(since "$T0")s; exit $RC"
exit "$RC"

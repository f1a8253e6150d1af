# Shared flow of the gates for gateways configured from a file (sourced, not run). A gateway's
# gate script sets GATE_NAME, GATE_MANIFEST and GATE_BASELINE, defines two hooks and calls
# `static_gate "$@"`:
#   gate_config MANIFEST_JSON OUT_FILE   write the gateway's own configuration from the manifest
#                                        (printed as JSON by `mcpgw-conformance manifest`)
#   gate_start PORT CONFIG_FILE          install (cached) and start it on 127.0.0.1:PORT; exit
#                                        code 3 means the package registry was unreachable
#   gate_stop PORT                       stop it (called from the EXIT trap, must not fail)
# and may export the secrets its manifest's principals read before calling it, and set
# GATE_FIDELITY_ARGS (an array) to add `fidelity` arguments (e.g. `--timeout 60`).
#
# The flow: build the harness, start the declared upstream fixtures (`mcpgw-conformance
# upstreams`; stdio ones are launched by the gateway itself), write the config, start the
# gateway, run the suite with the manifest and baseline, then pass-through fidelity when the
# manifest declares a fidelity upstream (fidelity-step.sh), then a fuzz campaign with a fixed seed
# and case count (its findings outside the baseline's `fuzz_findings` fail the gate; each is
# shrunk and written as a scenario under the reports), stop everything (always).
#
# Exit codes: 0 gate passed; 1 new failures or stale baseline entries; 2 harness usage or
# configuration error (malformed manifest, missing baseline); 3 NOT RUN (package registry
# unreachable); 4 the gateway or the upstreams could not be installed or started.
# Arguments: --bless (rewrite the baseline from this run), then more `run` arguments.
# Environment: MCPGW_GATE_REPORT_DIR (default target/conformance/NAME), GITHUB_STEP_SUMMARY,
# MCPGW_GATE_FUZZ_CASES (default 2000; 0 skips the campaign), MCPGW_GATE_FUZZ_SEED (default 1).

. "$(dirname "${BASH_SOURCE[0]}")/fuzz-campaign.sh"
. "$(dirname "${BASH_SOURCE[0]}")/fidelity-step.sh"

static_gate() {
  set -euo pipefail
  [ -n "${GATE_FIDELITY_ARGS+x}" ] || GATE_FIDELITY_ARGS=()
  local root; root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  cd "$root"
  local t0; t0=$(date +%s)
  glog() { printf '[%s-gate] %s\n' "$GATE_NAME" "$*" >&2; }
  since() { echo $(( $(date +%s) - $1 )); }

  local bless=0; local -a args=()
  for a in "$@"; do
    if [ "$a" = --bless ]; then bless=1; else args+=("$a"); fi
  done
  if [ ! -f "$GATE_BASELINE" ] && [ "$bless" = 0 ]; then
    glog "ERROR: no baseline $GATE_BASELINE (create it with --bless)"; return 2
  fi

  GATE_REPORTS="${MCPGW_GATE_REPORT_DIR:-$root/target/conformance/$GATE_NAME}"
  mkdir -p "$GATE_REPORTS"
  rm -f "$GATE_REPORTS"/{report.json,junit.xml,summary.md,report.html,gateway.log,upstreams.log}
  GATE_WORK="$(mktemp -d "${TMPDIR:-/tmp}/mcpgw-$GATE_NAME-gate.XXXXXX")"
  # Where the upstream fixtures (in their own process, or launched by the gateway) record what
  # reached them, and where the suite reads it.
  export MCPGW_RECORD_DIR="$GATE_WORK/records"
  mkdir -p "$MCPGW_RECORD_DIR"
  GATE_PORT=""
  GATE_UPSTREAMS_PID=""
  trap static_gate_cleanup EXIT

  # ---- 1. the harness ----
  local tb; tb=$(date +%s)
  cargo build -q -p mcpgw-conformance
  GATE_BIN="$root/target/debug/mcpgw-conformance"
  local build_s; build_s=$(since "$tb")
  "$GATE_BIN" manifest --target-file "$GATE_MANIFEST" > "$GATE_WORK/manifest.json" || return 2

  # ---- 2. the upstream fixtures: stdin is a pipe this shell holds, so they end with it ----
  mkfifo "$GATE_WORK/upstreams.stdin"
  "$GATE_BIN" upstreams --target-file "$GATE_MANIFEST" < "$GATE_WORK/upstreams.stdin" \
    > "$GATE_WORK/upstreams.out" 2> "$GATE_WORK/upstreams.err" &
  GATE_UPSTREAMS_PID=$!
  exec 9> "$GATE_WORK/upstreams.stdin"
  local i
  for i in $(seq 1 100); do
    grep -q '^ready' "$GATE_WORK/upstreams.out" 2>/dev/null && break
    kill -0 "$GATE_UPSTREAMS_PID" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q '^ready' "$GATE_WORK/upstreams.out" 2>/dev/null; then
    glog "ERROR: the upstream fixtures did not start:"; cat "$GATE_WORK/upstreams.err" >&2
    return 4
  fi
  glog "upstreams $(cat "$GATE_WORK/upstreams.out")"

  # ---- 3. the gateway, configured from the manifest ----
  gate_config "$GATE_WORK/manifest.json" "$GATE_WORK/gateway-config"
  GATE_PORT="$(free_port)" || { glog "ERROR: no free port"; return 4; }
  local ts; ts=$(date +%s)
  local rc=0
  gate_start "$GATE_PORT" "$GATE_WORK/gateway-config" > "$GATE_WORK/start.out" 2> "$GATE_WORK/start.err" || rc=$?
  if [ "$rc" != 0 ]; then
    cat "$GATE_WORK/start.err" >&2
    if [ "$rc" = 3 ]; then
      glog "NOT RUN: the package registry is unreachable; nothing was tested (exit 3)"
      printf '## MCP gateway conformance against %s: NOT RUN\n\nThe package registry was unreachable.\n' "$GATE_NAME" \
        | tee "$GATE_REPORTS/summary.md" >> "${GITHUB_STEP_SUMMARY:-/dev/null}"
      return 3
    fi
    glog "ERROR: $GATE_NAME could not be installed or started (exit $rc)"
    return 4
  fi
  local install=cached
  grep -qi 'installing' "$GATE_WORK/start.err" && install=cold
  local start_s; start_s=$(since "$ts")
  glog "$GATE_NAME up on 127.0.0.1:$GATE_PORT in ${start_s}s (install: $install)"

  # ---- 4. the suite ----
  local tsu; tsu=$(date +%s)
  local -a run=(run --quiet --target "http://127.0.0.1:$GATE_PORT" --target-file "$GATE_MANIFEST"
                --baseline "$GATE_BASELINE" --report-dir "$GATE_REPORTS")
  set +e
  if [ "$bless" = 1 ]; then
    env -u CI INSTA_UPDATE=unseen "$GATE_BIN" "${run[@]}" --bless "${args[@]}"
  else
    CI=true "$GATE_BIN" "${run[@]}" "${args[@]}"
  fi
  rc=$?
  set -e
  local suite_s; suite_s=$(since "$tsu")
  [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -f "$GATE_REPORTS/summary.md" ] && cat "$GATE_REPORTS/summary.md" >> "$GITHUB_STEP_SUMMARY"
  glog "reports: $GATE_REPORTS/{report.html,summary.md,report.json,junit.xml}"

  # ---- 4b. pass-through fidelity, when the manifest declares a fidelity upstream (served by
  # `upstreams` above and configured into the gateway like the others) ----
  local tfi; tfi=$(date +%s)
  if python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); sys.exit(0 if any(u.get("fidelity") for u in m["provisioning"]["static"]["upstreams"].values()) else 1)' "$GATE_WORK/manifest.json" 2>/dev/null; then
    local fidrc=0
    gate_fidelity "$GATE_NAME-gate" "$GATE_BIN" "$GATE_REPORTS/fidelity" "$bless" \
      --target "http://127.0.0.1:$GATE_PORT" --target-file "$GATE_MANIFEST" \
      --baseline "$GATE_BASELINE" "${GATE_FIDELITY_ARGS[@]}" || fidrc=$?
    [ "$rc" = 0 ] && rc=$fidrc
  fi
  local fid_s; fid_s=$(since "$tfi")

  # ---- 5. a fuzz campaign on the same gateway ----
  local tf; tf=$(date +%s)
  if [ "$bless" = 0 ]; then
    local frc=0
    gate_fuzz_campaign "$GATE_NAME-gate" "$GATE_BIN" "$GATE_REPORTS" \
      --target "http://127.0.0.1:$GATE_PORT" --target-file "$GATE_MANIFEST" \
      --baseline "$GATE_BASELINE" || frc=$?
    [ "$rc" = 0 ] && rc=$frc
  fi
  local fuzz_s; fuzz_s=$(since "$tf")
  glog "timings: harness build ${build_s}s, start ${start_s}s (install $install), suite ${suite_s}s, fidelity ${fid_s}s, fuzz ${fuzz_s}s, total $(since "$t0")s; exit $rc"
  return "$rc"
}

static_gate_cleanup() {
  local rc=$?
  if [ -n "${GATE_PORT:-}" ]; then gate_stop "$GATE_PORT" >&2 || true; fi
  # Closing the pipe ends the upstreams; a TERM covers a fixture that is stuck.
  exec 9>&- 2>/dev/null || true
  if [ -n "${GATE_UPSTREAMS_PID:-}" ]; then
    for _ in $(seq 1 30); do kill -0 "$GATE_UPSTREAMS_PID" 2>/dev/null || break; sleep 0.1; done
    kill -TERM "$GATE_UPSTREAMS_PID" 2>/dev/null || true
  fi
  cp "$GATE_WORK/upstreams.err" "$GATE_REPORTS/upstreams.log" 2>/dev/null || true
  [ -n "${GATE_LOG:-}" ] && cp "$GATE_LOG" "$GATE_REPORTS/gateway.log" 2>/dev/null || true
  rm -rf "$GATE_WORK"
  exit "$rc"
}

# The first free loopback port in 4700-4760.
free_port() {
  local p
  for p in $(seq 4700 4760); do
    if ! (ss -ltn 2>/dev/null | awk '{print $4}' | grep -qE "[:.]$p\$"); then echo "$p"; return 0; fi
  done
  return 1
}

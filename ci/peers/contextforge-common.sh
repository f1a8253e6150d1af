#!/usr/bin/env bash
# Shared by the ContextForge gates (contextforge.sh, contextforge-cluster.sh); sourced after
# `log` is defined, from the repository root with ROOT set. Sets BLESS, ARGS and PEERS from the
# gate's arguments, and defines port_free and registry_reachable.

BLESS=0
ARGS=()
for a in "$@"; do
  if [ "$a" = --bless ]; then BLESS=1; else ARGS+=("$a"); fi
done

# Where contextforge/run.sh and stop.sh live.
PEERS="${MCPGW_PEERS_DIR:-}"
if [ -z "$PEERS" ]; then
  for d in "$ROOT/../shared/peers" /work/shared/peers; do
    [ -x "$d/contextforge/run.sh" ] && { PEERS="$d"; break; }
  done
fi
[ -n "$PEERS" ] && [ -x "$PEERS/contextforge/run.sh" ] || {
  log "ERROR: cannot find contextforge/run.sh (set MCPGW_PEERS_DIR)"; exit 4; }

port_free() { ! (ss -ltn 2>/dev/null | awk '{print $4}' | grep -qE "[:.]$1\$"); }

# Can pip reach the package index (pip's own configuration: PIP_INDEX_URL, proxies, pip.conf)?
registry_reachable() {
  local py
  for py in "${CF_PYTHON:-}" python3 "$HOME"/.pyenv/versions/3.12*/bin/python3; do
    [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 && "$py" -m pip --version >/dev/null 2>&1 || continue
    timeout 60 "$py" -m pip index versions mcp-contextforge-gateway --retries 1 --timeout 15 >/dev/null 2>&1
    return $?
  done
  return 1
}

# Run the suite: the harness at $1 with `run` arguments $2..., plus the gate's own arguments;
# with --bless, snapshots that do not exist yet are accepted and changed ones stay failing (and
# get baselined) with a .snap.new beside them to review. Sets RC to the harness's exit code.
cf_run_suite() {
  local bin="$1"; shift
  set +e
  if [ "$BLESS" = 1 ]; then
    env -u CI INSTA_UPDATE=unseen "$bin" "$@" --bless "${ARGS[@]}"
  else
    CI=true "$bin" "$@" "${ARGS[@]}"
  fi
  RC=$?
  set -e
}

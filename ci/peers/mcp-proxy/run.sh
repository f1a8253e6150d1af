#!/usr/bin/env bash
# Start mcp-proxy (PyPI mcp-proxy, sparfenyuk/mcp-proxy, default 0.13.0) as a gateway that
# launches its MCP servers as stdio commands and serves each one over Streamable HTTP at
#   http://127.0.0.1:PORT/servers/NAME/mcp     (JSON responses, mcp-session-id sessions)
#   http://127.0.0.1:PORT/servers/NAME/sse     (legacy SSE)
# and a status page at /status. It has no authentication, no aggregate endpoint and no
# tool-name prefixing. Waits until it answers, then prints
#   URL=http://127.0.0.1:PORT
# Usage: run.sh PORT CONFIG
#   CONFIG is a --named-server-config JSON file: {"mcpServers": {"NAME": {"command": "...",
#   "args": [...], "env": {...}, "enabled": true}}} (see example-config.json beside this script).
#   Every server is started once, at start-up; one that fails to start aborts the gateway.
# Env knobs:
#   MCP_PROXY_HOME      where venvs and state live (default $HOME/.cache/mcpgw-peers)
#   MCP_PROXY_VERSION   package version (default 0.13.0)
#   MCP_PROXY_VENV      venv dir (default $MCP_PROXY_HOME/mcp-proxy-VERSION)
#   MCP_PROXY_STATE     state dir: log, pid, children, connection.env
#                       (default $MCP_PROXY_HOME/mcp-proxy-state-PORT)
#   MCP_PROXY_PYTHON    python to build the venv (auto-detected: 3.12, 3.13, then python3)
#   MCP_PROXY_STATELESS 1: --stateless (no mcp-session-id, every request stands alone); default 0
#   MCP_PROXY_PASS_ENV  1: --pass-environment (children inherit the whole environment); default 0,
#                       when children get only the config's env over the MCP SDK's safe defaults
#                       (HOME, LOGNAME, PATH, SHELL, TERM, USER)
#   MCP_PROXY_EXTRA_ARGS extra CLI flags (e.g. "--log-level DEBUG")
#   MCP_PROXY_READY_TIMEOUT seconds to wait for /status (default 60)
# Exit codes: 2 usage / no usable Python, 3 PyPI unreachable, 4 other install failure,
#   5 port already in use, 6 gateway exited during start-up, 7 not answering within the timeout.
# Stop with stop.sh PORT.
set -euo pipefail

log() { echo "[run-mcp-proxy] $*" >&2; }
[ $# -ge 2 ] || { echo "usage: $0 PORT CONFIG" >&2; exit 2; }
PORT="$1"
CONFIG="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
[ -f "$CONFIG" ] || { log "ERROR: config file $2 not found"; exit 2; }
case "$PORT" in ''|*[!0-9]*) log "ERROR: PORT must be a number"; exit 2 ;; esac

MCP_PROXY_HOME="${MCP_PROXY_HOME:-$HOME/.cache/mcpgw-peers}"
MCP_PROXY_VERSION="${MCP_PROXY_VERSION:-0.13.0}"
MCP_PROXY_VENV="${MCP_PROXY_VENV:-$MCP_PROXY_HOME/mcp-proxy-$MCP_PROXY_VERSION}"
MCP_PROXY_STATE="${MCP_PROXY_STATE:-$MCP_PROXY_HOME/mcp-proxy-state-$PORT}"
READY_TIMEOUT="${MCP_PROXY_READY_TIMEOUT:-60}"

# ---- 1. find a Python ----
find_python() {
  local c
  for c in "${MCP_PROXY_PYTHON:-}" python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3 \
           python3.13 "$HOME"/.pyenv/versions/3.13*/bin/python3 python3; do
    [ -n "$c" ] || continue
    command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || continue
    if "$c" -c 'import sys; sys.exit(0 if (3,10) <= sys.version_info[:2] < (3,14) else 1)' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  return 1
}

# ---- 2. install into the cached venv if missing ----
installed_ok() {
  [ -x "$MCP_PROXY_VENV/bin/mcp-proxy" ] || return 1
  [ "$("$MCP_PROXY_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp-proxy"))' 2>/dev/null)" = "$MCP_PROXY_VERSION" ]
}
if ! installed_ok; then
  PY="$(find_python)" || { log "ERROR: need Python >=3.10,<3.14 (set MCP_PROXY_PYTHON)"; exit 2; }
  log "installing mcp-proxy==$MCP_PROXY_VERSION into $MCP_PROXY_VENV with $PY ($("$PY" --version 2>&1))"
  t0=$(date +%s)
  mkdir -p "$MCP_PROXY_HOME"
  if [ ! -x "$MCP_PROXY_VENV/bin/pip" ]; then
    rm -rf "$MCP_PROXY_VENV"
    "$PY" -m venv "$MCP_PROXY_VENV" || { log "ERROR: venv creation failed"; exit 4; }
    "$MCP_PROXY_VENV/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
  fi
  if ! "$MCP_PROXY_VENV/bin/pip" install -q "mcp-proxy==$MCP_PROXY_VERSION" >&2; then
    if "$MCP_PROXY_VENV/bin/python" -m pip index versions mcp-proxy >/dev/null 2>&1; then
      log "ERROR: pip install mcp-proxy==$MCP_PROXY_VERSION failed (PyPI reachable)"; exit 4
    else
      log "ERROR: PyPI unreachable: cannot install mcp-proxy==$MCP_PROXY_VERSION"; exit 3
    fi
  fi
  installed_ok || { log "ERROR: install finished but mcp-proxy==$MCP_PROXY_VERSION is not there"; exit 4; }
  log "installed in $(( $(date +%s) - t0 )) s"
fi

# ---- 3. state dir; refuse a busy port ----
mkdir -p "$MCP_PROXY_STATE"
PIDF="$MCP_PROXY_STATE/gw.pid"
if [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null; then
  log "ERROR: already running (pid $(cat "$PIDF")); stop it first with stop.sh $PORT"; exit 5
fi
rm -f "$PIDF" "$MCP_PROXY_STATE/children.pids"
if ss -ltn 2>/dev/null | awk '{print $4}' | grep -qE "[:.]$PORT\$"; then
  log "ERROR: port $PORT is already in use"; exit 5
fi

# ---- 4. start in its own process group (sh writes its pid, then execs mcp-proxy: pid == pgid) ----
flags=(--named-server-config "$CONFIG" --host 127.0.0.1 --port "$PORT")
[ "${MCP_PROXY_STATELESS:-0}" = 1 ] && flags+=(--stateless)
[ "${MCP_PROXY_PASS_ENV:-0}" = 1 ] && flags+=(--pass-environment)
# shellcheck disable=SC2206
extra=(${MCP_PROXY_EXTRA_ARGS:-})
log "starting mcp-proxy $MCP_PROXY_VERSION on 127.0.0.1:$PORT with $CONFIG (state $MCP_PROXY_STATE)"
( cd "$MCP_PROXY_STATE" && exec setsid sh -c 'echo $$ > "$0"; exec "$@"' "$PIDF" \
    "$MCP_PROXY_VENV/bin/mcp-proxy" "${flags[@]}" "${extra[@]}" \
    > "$MCP_PROXY_STATE/gw.log" 2>&1 < /dev/null ) &
for _ in $(seq 1 50); do [ -s "$PIDF" ] && break; sleep 0.1; done
[ -s "$PIDF" ] || { log "ERROR: gateway did not start; see $MCP_PROXY_STATE/gw.log"; exit 6; }
PID="$(cat "$PIDF")"

# ---- 5. wait until it answers ----
t0=$(date +%s)
while :; do
  if curl -sf -m 2 "http://127.0.0.1:$PORT/status" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$PID" 2>/dev/null; then
    log "ERROR: gateway exited during start-up; last log lines:"; tail -30 "$MCP_PROXY_STATE/gw.log" >&2
    rm -f "$PIDF"; exit 6
  fi
  if [ $(( $(date +%s) - t0 )) -ge "$READY_TIMEOUT" ]; then
    log "ERROR: not answering after ${READY_TIMEOUT} s; see $MCP_PROXY_STATE/gw.log (still running: stop.sh $PORT)"; exit 7
  fi
  sleep 0.2
done
# The MCP SDK starts each stdio server in a new session (its own process group), so the
# gateway's group does not contain them: remember them for stop.sh.
# One line per child: "PID START" (START = field 22 of /proc/PID/stat, so a reused pid is never hit).
for c in $(ps -o pid= --ppid "$PID"); do
  st="$(awk '{print $22}' "/proc/$c/stat" 2>/dev/null)" && echo "$c $st"
done > "$MCP_PROXY_STATE/children.pids" || true
log "ready in $(( $(date +%s) - t0 )) s (pid/pgid $PID; stdio servers: $(cut -d' ' -f1 "$MCP_PROXY_STATE/children.pids" | tr '\n' ' '))"
printf 'URL=http://127.0.0.1:%s\nVERSION=%s\nPID=%s\nCONFIG=%s\n' "$PORT" "$MCP_PROXY_VERSION" "$PID" "$CONFIG" > "$MCP_PROXY_STATE/connection.env"
echo "URL=http://127.0.0.1:$PORT"

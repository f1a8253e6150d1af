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
# shellcheck source=../python-peer.sh
. "$(dirname "${BASH_SOURCE[0]}")/../python-peer.sh"

PEER_TAG=run-mcp-proxy
peer_read_args "$@"

MCP_PROXY_HOME="${MCP_PROXY_HOME:-$HOME/.cache/mcpgw-peers}"
MCP_PROXY_VERSION="${MCP_PROXY_VERSION:-0.13.0}"
MCP_PROXY_VENV="${MCP_PROXY_VENV:-$MCP_PROXY_HOME/mcp-proxy-$MCP_PROXY_VERSION}"
MCP_PROXY_STATE="${MCP_PROXY_STATE:-$MCP_PROXY_HOME/mcp-proxy-state-$PORT}"
READY_TIMEOUT="${MCP_PROXY_READY_TIMEOUT:-60}"
CHILDREN="$MCP_PROXY_STATE/children.pids"

# ---- 1. install into the cached venv if missing ----
peer_installed() {
  [ -x "$MCP_PROXY_VENV/bin/mcp-proxy" ] || return 1
  [ "$("$MCP_PROXY_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp-proxy"))' 2>/dev/null)" = "$MCP_PROXY_VERSION" ]
}
peer_installed || peer_install "$MCP_PROXY_HOME" "$MCP_PROXY_VENV" MCP_PROXY_PYTHON \
  "mcp-proxy==$MCP_PROXY_VERSION is not there" "mcp-proxy==$MCP_PROXY_VERSION"

# ---- 2. refuse a busy port or a running instance (and forget the last run's children) ----
peer_refuse_busy "$MCP_PROXY_STATE" "$PORT" "$CHILDREN"

# ---- 3. start in its own process group (pid == pgid) ----
flags=(--named-server-config "$CONFIG" --host 127.0.0.1 --port "$PORT")
[ "${MCP_PROXY_STATELESS:-0}" = 1 ] && flags+=(--stateless)
[ "${MCP_PROXY_PASS_ENV:-0}" = 1 ] && flags+=(--pass-environment)
# shellcheck disable=SC2206
extra=(${MCP_PROXY_EXTRA_ARGS:-})
peer_log "starting mcp-proxy $MCP_PROXY_VERSION on 127.0.0.1:$PORT with $CONFIG (state $MCP_PROXY_STATE)"
peer_start_group "$MCP_PROXY_STATE" "$MCP_PROXY_VENV/bin/mcp-proxy" "${flags[@]}" "${extra[@]}"
PID="$(cat "$MCP_PROXY_STATE/gw.pid")"

# ---- 4. wait until it answers ----
peer_wait_ready "$MCP_PROXY_STATE" "$PORT" "$PID" /status "$READY_TIMEOUT" 0.2
# The MCP SDK starts each stdio server in a new session (its own process group), so the
# gateway's group does not contain them: remember them for stop.sh.
# One line per child: "PID START" (START = field 22 of /proc/PID/stat, so a reused pid is never hit).
for c in $(ps -o pid= --ppid "$PID"); do
  st="$(awk '{print $22}' "/proc/$c/stat" 2>/dev/null)" && echo "$c $st"
done > "$CHILDREN" || true
peer_log "ready in $PEER_READY_S s (pid/pgid $PID; stdio servers: $(cut -d' ' -f1 "$CHILDREN" | tr '\n' ' '))"
peer_publish "$MCP_PROXY_STATE" "$PORT" "$MCP_PROXY_VERSION" "$PID" "$CONFIG"

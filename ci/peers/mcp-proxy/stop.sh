#!/usr/bin/env bash
# Stop an mcp-proxy started by run.sh PORT: its process group (pid file; pid == pgid), then any
# stdio server it launched that is still alive (they run in their own process groups; mcp-proxy
# normally closes their stdin on shutdown and they exit by themselves). Everything by id.
set -euo pipefail
# shellcheck source=../python-peer.sh
. "$(dirname "${BASH_SOURCE[0]}")/../python-peer.sh"

PEER_TAG=stop-mcp-proxy
peer_read_stop_args "$@"
MCP_PROXY_STATE="${MCP_PROXY_STATE:-${MCP_PROXY_HOME:-$HOME/.cache/mcpgw-peers}/mcp-proxy-state-$PORT}"
CHF="$MCP_PROXY_STATE/children.pids"
starttime() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null; }
# "PID START" pairs: the children as they are now (a server may have been restarted since
# run.sh recorded them) plus those run.sh recorded
children=""
# Called while the gateway still lives: once it is gone its children are re-parented and
# `ps --ppid` no longer finds them.
note_children() {
  for c in $(ps -o pid= --ppid "$1"); do children="$children $c:$(starttime "$c")"; done
}
peer_stop_group "$MCP_PROXY_STATE" "$PORT" note_children
[ -f "$CHF" ] && children="$children $(awk '{printf " %s:%s", $1, $2}' "$CHF")"
for entry in $children; do
  c="${entry%%:*}"; st="${entry#*:}"
  # give it a moment to exit on its own (mcp-proxy closed its stdin)
  for _ in $(seq 1 10); do [ "$(starttime "$c")" = "$st" ] || break; sleep 0.2; done
  [ -n "$st" ] && [ "$(starttime "$c")" = "$st" ] || continue   # gone, or the pid was reused
  kill -TERM -- "-$c" 2>/dev/null || kill -TERM "$c" 2>/dev/null || true
  sleep 0.5
  if [ "$(starttime "$c")" = "$st" ]; then kill -KILL -- "-$c" 2>/dev/null || kill -KILL "$c" 2>/dev/null || true; fi
  echo "[stop-mcp-proxy] stopped leftover stdio server pid $c"
done
rm -f "$MCP_PROXY_STATE/gw.pid" "$CHF"
[ "${MCP_PROXY_WIPE:-0}" = 1 ] && rm -rf "$MCP_PROXY_STATE" && echo "[stop-mcp-proxy] wiped $MCP_PROXY_STATE"
exit 0

#!/usr/bin/env bash
# Stop a LiteLLM proxy started by run.sh PORT.
# Kills only the process group that run.sh started (pid file; pid == pgid), by id.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 PORT" >&2; exit 2; }
PORT="$1"
LITELLM_STATE="${LITELLM_STATE:-${LITELLM_HOME:-$HOME/.cache/mcpgw-peers}/litellm-state-$PORT}"
PIDF="$LITELLM_STATE/gw.pid"
[ -f "$PIDF" ] || { echo "[stop-litellm] no pid file at $PIDF"; exit 0; }
PID="$(cat "$PIDF")"
if kill -0 "$PID" 2>/dev/null; then
  kill -TERM -- "-$PID" 2>/dev/null || kill -TERM "$PID"
  # uvicorn shuts down in well under a second when idle; open SSE streams can hold it longer
  for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$PID" 2>/dev/null; then kill -KILL -- "-$PID" 2>/dev/null || kill -KILL "$PID"; fi
  echo "[stop-litellm] stopped pid $PID (port $PORT)"
else
  echo "[stop-litellm] pid $PID not running"
fi
rm -f "$PIDF"
[ "${LITELLM_WIPE:-0}" = 1 ] && rm -rf "$LITELLM_STATE" && echo "[stop-litellm] wiped $LITELLM_STATE"
exit 0

#!/usr/bin/env bash
# Stop a LiteLLM proxy started by run.sh PORT.
# Kills only the process group that run.sh started (pid file; pid == pgid), by id.
set -euo pipefail
# shellcheck source=../python-peer.sh
. "$(dirname "${BASH_SOURCE[0]}")/../python-peer.sh"

PEER_TAG=stop-litellm
peer_read_stop_args "$@"
LITELLM_STATE="${LITELLM_STATE:-${LITELLM_HOME:-$HOME/.cache/mcpgw-peers}/litellm-state-$PORT}"
peer_stop_group "$LITELLM_STATE" "$PORT"
rm -f "$LITELLM_STATE/gw.pid"
[ "${LITELLM_WIPE:-0}" = 1 ] && rm -rf "$LITELLM_STATE" && echo "[stop-litellm] wiped $LITELLM_STATE"
exit 0

#!/usr/bin/env bash
# Start LiteLLM's proxy (PyPI litellm[proxy], default 1.108.7) as an MCP gateway configured from
# a file, on 127.0.0.1:PORT with no database, wait until it answers, and print
#   URL=http://127.0.0.1:PORT
# Usage: run.sh PORT CONFIG
#   CONFIG is a LiteLLM config.yaml with `mcp_servers:` and `general_settings.master_key`
#   (see example-config.yaml beside this script). The master key is the only principal that
#   works without a database; clients send it as "Authorization: Bearer sk-..." or
#   "x-litellm-api-key: sk-..." (with or without "Bearer ").
# Env knobs:
#   LITELLM_HOME      where venvs and state live (default $HOME/.cache/mcpgw-peers)
#   LITELLM_VERSION   package version (default 1.108.7; needs Python >=3.10, 3.12 used if found)
#   LITELLM_VENV      venv dir (default $LITELLM_HOME/litellm-VERSION)
#   LITELLM_STATE     state dir: log, pid, connection.env (default $LITELLM_HOME/litellm-state-PORT)
#   LITELLM_PYTHON    python to build the venv (auto-detected: 3.12, 3.13, then python3)
#   LITELLM_PRISMA    1 (default): also install prisma==0.15.0 (the pure-Python client only; its
#                     engine is never generated or downloaded because no DATABASE_URL is given).
#                     Without it, every request LiteLLM rejects for a missing/malformed key answers
#                     500 {"error":"MCP request failed","details":"No module named 'prisma'"}
#                     instead of 401 + WWW-Authenticate (LiteLLM's auth error path imports prisma).
#                     0: the bare litellm[proxy] install, to reproduce that 500.
#   LITELLM_READY_TIMEOUT  seconds to wait for /health/liveliness (default 90)
#   LITELLM_EXTRA_ENV "K=V K2=V2" passed to the gateway
# Exit codes: 2 usage / no usable Python, 3 PyPI unreachable, 4 other install failure,
#   5 port already in use, 6 gateway exited during start-up, 7 not answering within the timeout.
# Stop with stop.sh PORT.
set -euo pipefail
# shellcheck source=../python-peer.sh
. "$(dirname "${BASH_SOURCE[0]}")/../python-peer.sh"

PEER_TAG=run-litellm
peer_read_args "$@"

LITELLM_HOME="${LITELLM_HOME:-$HOME/.cache/mcpgw-peers}"
LITELLM_VERSION="${LITELLM_VERSION:-1.108.7}"
LITELLM_VENV="${LITELLM_VENV:-$LITELLM_HOME/litellm-$LITELLM_VERSION}"
LITELLM_STATE="${LITELLM_STATE:-$LITELLM_HOME/litellm-state-$PORT}"
LITELLM_PRISMA="${LITELLM_PRISMA:-1}"
PRISMA_VERSION=0.15.0
READY_TIMEOUT="${LITELLM_READY_TIMEOUT:-90}"

# ---- 1. install into the cached venv if missing ----
# Installed = this litellm version with the [proxy] extra's MCP stack, and prisma if asked for.
peer_installed() {
  [ -x "$LITELLM_VENV/bin/python" ] && [ -x "$LITELLM_VENV/bin/litellm" ] || return 1
  "$LITELLM_VENV/bin/python" - "$LITELLM_VERSION" "$LITELLM_PRISMA" "$PRISMA_VERSION" <<'PYEOF' 2>/dev/null
import sys, importlib.metadata as m
want, prisma, prisma_v = sys.argv[1], sys.argv[2], sys.argv[3]
ok = m.version("litellm") == want
for dist in ("fastapi", "uvicorn", "mcp"):   # the [proxy] extra's MCP stack
    m.version(dist)
if prisma == "1":
    ok = ok and m.version("prisma") == prisma_v
sys.exit(0 if ok else 1)
PYEOF
}
pkgs=("litellm[proxy]==$LITELLM_VERSION")
if [ "$LITELLM_PRISMA" = 1 ]; then pkgs+=("prisma==$PRISMA_VERSION"); fi
peer_installed || peer_install "$LITELLM_HOME" "$LITELLM_VENV" LITELLM_PYTHON \
  "litellm==$LITELLM_VERSION is not importable" "${pkgs[@]}"

# ---- 2. refuse a busy port or a running instance ----
peer_refuse_busy "$LITELLM_STATE" "$PORT"

# ---- 3. start in its own process group (pid == pgid) ----
# No database: DATABASE_URL/DIRECT_URL are removed so a CI job's Postgres is never picked up.
# LITELLM_LOCAL_MODEL_COST_MAP=True keeps start-up off the network (bundled cost map).
peer_log "starting litellm $LITELLM_VERSION on 127.0.0.1:$PORT with $CONFIG (state $LITELLM_STATE)"
# shellcheck disable=SC2086
peer_start_group "$LITELLM_STATE" env -u DATABASE_URL -u DIRECT_URL \
  LITELLM_LOCAL_MODEL_COST_MAP=True ${LITELLM_EXTRA_ENV:-} \
  "$LITELLM_VENV/bin/litellm" --config "$CONFIG" --host 127.0.0.1 --port "$PORT"
PID="$(cat "$LITELLM_STATE/gw.pid")"

# ---- 4. wait until it answers ----
peer_wait_ready "$LITELLM_STATE" "$PORT" "$PID" /health/liveliness "$READY_TIMEOUT" 0.3
peer_log "ready in $PEER_READY_S s (pid/pgid $PID)"
peer_publish "$LITELLM_STATE" "$PORT" "$LITELLM_VERSION" "$PID" "$CONFIG"

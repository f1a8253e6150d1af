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

log() { echo "[run-litellm] $*" >&2; }
[ $# -ge 2 ] || { echo "usage: $0 PORT CONFIG" >&2; exit 2; }
PORT="$1"
CONFIG="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
[ -f "$CONFIG" ] || { log "ERROR: config file $2 not found"; exit 2; }
case "$PORT" in ''|*[!0-9]*) log "ERROR: PORT must be a number"; exit 2 ;; esac

LITELLM_HOME="${LITELLM_HOME:-$HOME/.cache/mcpgw-peers}"
LITELLM_VERSION="${LITELLM_VERSION:-1.108.7}"
LITELLM_VENV="${LITELLM_VENV:-$LITELLM_HOME/litellm-$LITELLM_VERSION}"
LITELLM_STATE="${LITELLM_STATE:-$LITELLM_HOME/litellm-state-$PORT}"
LITELLM_PRISMA="${LITELLM_PRISMA:-1}"
PRISMA_VERSION=0.15.0
READY_TIMEOUT="${LITELLM_READY_TIMEOUT:-90}"

# ---- 1. find a Python ----
find_python() {
  local c
  for c in "${LITELLM_PYTHON:-}" python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3 \
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
pypi_reachable() {
  # ask pip itself (honours pip.conf / PIP_INDEX_URL / proxies); succeeds for any listed version
  "$1" -m pip index versions litellm >/dev/null 2>&1
}
if ! installed_ok; then
  PY="$(find_python)" || { log "ERROR: need Python >=3.10,<3.14 (set LITELLM_PYTHON)"; exit 2; }
  log "installing litellm[proxy]==$LITELLM_VERSION into $LITELLM_VENV with $PY ($("$PY" --version 2>&1))"
  t0=$(date +%s)
  mkdir -p "$LITELLM_HOME"
  if [ ! -x "$LITELLM_VENV/bin/pip" ]; then
    rm -rf "$LITELLM_VENV"
    "$PY" -m venv "$LITELLM_VENV" || { log "ERROR: venv creation failed"; exit 4; }
    "$LITELLM_VENV/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
  fi
  pkgs=("litellm[proxy]==$LITELLM_VERSION")
  [ "$LITELLM_PRISMA" = 1 ] && pkgs+=("prisma==$PRISMA_VERSION")
  if ! "$LITELLM_VENV/bin/pip" install -q "${pkgs[@]}" >&2; then
    if pypi_reachable "$LITELLM_VENV/bin/python"; then
      log "ERROR: pip install ${pkgs[*]} failed (PyPI reachable)"; exit 4
    else
      log "ERROR: PyPI unreachable: cannot install ${pkgs[*]}"; exit 3
    fi
  fi
  installed_ok || { log "ERROR: install finished but litellm==$LITELLM_VERSION is not importable"; exit 4; }
  log "installed in $(( $(date +%s) - t0 )) s"
fi

# ---- 3. state dir; refuse a busy port ----
mkdir -p "$LITELLM_STATE"
PIDF="$LITELLM_STATE/gw.pid"
if [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null; then
  log "ERROR: already running (pid $(cat "$PIDF")); stop it first with stop.sh $PORT"; exit 5
fi
rm -f "$PIDF"
if ss -ltn 2>/dev/null | awk '{print $4}' | grep -qE "[:.]$PORT\$"; then
  log "ERROR: port $PORT is already in use"; exit 5
fi

# ---- 4. start in its own process group (sh writes its pid, then execs litellm: pid == pgid) ----
# No database: DATABASE_URL/DIRECT_URL are removed so a CI job's Postgres is never picked up.
# LITELLM_LOCAL_MODEL_COST_MAP=True keeps start-up off the network (bundled cost map).
log "starting litellm $LITELLM_VERSION on 127.0.0.1:$PORT with $CONFIG (state $LITELLM_STATE)"
# shellcheck disable=SC2086
( cd "$LITELLM_STATE" && exec env -u DATABASE_URL -u DIRECT_URL \
    LITELLM_LOCAL_MODEL_COST_MAP=True ${LITELLM_EXTRA_ENV:-} \
    setsid sh -c 'echo $$ > "$0"; exec "$@"' "$PIDF" \
      "$LITELLM_VENV/bin/litellm" --config "$CONFIG" --host 127.0.0.1 --port "$PORT" \
    > "$LITELLM_STATE/gw.log" 2>&1 < /dev/null ) &
for _ in $(seq 1 50); do [ -s "$PIDF" ] && break; sleep 0.1; done
[ -s "$PIDF" ] || { log "ERROR: gateway did not start; see $LITELLM_STATE/gw.log"; exit 6; }
PID="$(cat "$PIDF")"

# ---- 5. wait until it answers ----
t0=$(date +%s)
while :; do
  if curl -sf -m 2 "http://127.0.0.1:$PORT/health/liveliness" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$PID" 2>/dev/null; then
    log "ERROR: gateway exited during start-up; last log lines:"; tail -30 "$LITELLM_STATE/gw.log" >&2
    rm -f "$PIDF"; exit 6
  fi
  if [ $(( $(date +%s) - t0 )) -ge "$READY_TIMEOUT" ]; then
    log "ERROR: not answering after ${READY_TIMEOUT} s; see $LITELLM_STATE/gw.log (still running: stop.sh $PORT)"; exit 7
  fi
  sleep 0.3
done
log "ready in $(( $(date +%s) - t0 )) s (pid/pgid $PID)"
printf 'URL=http://127.0.0.1:%s\nVERSION=%s\nPID=%s\nCONFIG=%s\n' "$PORT" "$LITELLM_VERSION" "$PID" "$CONFIG" > "$LITELLM_STATE/connection.env"
echo "URL=http://127.0.0.1:$PORT"

# What the start and stop scripts of a Python MCP gateway from PyPI have in common (sourced, not
# run): litellm/{run,stop}.sh and mcp-proxy/{run,stop}.sh. Each step is one function; a peer's
# script strings them together with its own package, knobs and readiness path, so what differs
# between the peers stays in the peer's own script, and each script's header stays its contract.
#
# Conventions every function relies on:
#   PEER_TAG   set by the caller: the message prefix (run-litellm, stop-mcp-proxy, ...). run.sh
#              messages go to stderr (stdout carries URL=...), stop.sh messages to stdout.
#   STATE      the peer's state directory: gw.pid (the gateway's pid, which is also its process
#              group id), gw.log, connection.env.
#   exit codes the run.sh contract: 2 usage / no usable Python, 3 PyPI unreachable, 4 other
#              install failure, 5 port in use or already running, 6 gateway exited during
#              start-up, 7 not answering within the timeout. A function that meets one of these
#              ends the script itself, so that a run.sh reads as the path that works.
#   peer_installed  a hook the run.sh defines: true when its venv already holds the wanted
#              versions (what that takes differs per package); peer_install checks it again
#              after installing.

peer_log() { echo "[$PEER_TAG] $*" >&2; }

# run.sh PORT CONFIG -> PORT, CONFIG. CONFIG is made absolute because the gateway runs in its
# state directory, not in the caller's.
peer_read_args() {
  [ $# -ge 2 ] || { echo "usage: $0 PORT CONFIG" >&2; exit 2; }
  PORT="$1"
  CONFIG="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
  [ -f "$CONFIG" ] || { peer_log "ERROR: config file $2 not found"; exit 2; }
  case "$PORT" in ''|*[!0-9]*) peer_log "ERROR: PORT must be a number"; exit 2 ;; esac
}

# stop.sh PORT -> PORT.
peer_read_stop_args() {
  [ $# -ge 1 ] || { echo "usage: $0 PORT" >&2; exit 2; }
  PORT="$1"
}

# Prints a Python both peers support (>=3.10,<3.14): the one named by the variable KNOB if set,
# else 3.12 (the one they are tested with), 3.13, then whatever python3 is; false if none fits.
peer_find_python() {
  local c
  for c in "${!1:-}" python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3 \
           python3.13 "$HOME"/.pyenv/versions/3.13*/bin/python3 python3; do
    [ -n "$c" ] || continue
    command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || continue
    if "$c" -c 'import sys; sys.exit(0 if (3,10) <= sys.version_info[:2] < (3,14) else 1)' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  return 1
}

# Whether the package index answers, to tell "PyPI unreachable" (exit 3, NOT RUN) from a real
# install failure (exit 4). Ask pip itself, so pip.conf / PIP_INDEX_URL / proxies count;
# succeeds for any listed version. PYTHON REQUIREMENT (pip index wants the bare project name).
peer_pypi_reachable() {
  local name="${2%%==*}"
  "$1" -m pip index versions "${name%%\[*}" >/dev/null 2>&1
}

# peer_install HOME VENV KNOB WHAT REQUIREMENT...: install REQUIREMENTs into the cached VENV,
# built with peer_find_python (KNOB names the caller's override variable). The venv is only
# rebuilt when it has no pip, so a version change upgrades in place. Exit 2 without a Python,
# 3 when PyPI is unreachable, 4 on any other failure, including peer_installed still false
# afterwards ("install finished but WHAT").
peer_install() {
  local home="$1" venv="$2" knob="$3" what="$4"; shift 4
  local py t0
  py="$(peer_find_python "$knob")" || { peer_log "ERROR: need Python >=3.10,<3.14 (set $knob)"; exit 2; }
  peer_log "installing $1 into $venv with $py ($("$py" --version 2>&1))"
  t0=$(date +%s)
  mkdir -p "$home"
  if [ ! -x "$venv/bin/pip" ]; then
    rm -rf "$venv"
    "$py" -m venv "$venv" || { peer_log "ERROR: venv creation failed"; exit 4; }
    # an old pip is not worth failing for; offline, the install below says what is wrong
    "$venv/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
  fi
  if ! "$venv/bin/pip" install -q "$@" >&2; then
    if peer_pypi_reachable "$venv/bin/python" "$1"; then
      peer_log "ERROR: pip install $* failed (PyPI reachable)"; exit 4
    else
      peer_log "ERROR: PyPI unreachable: cannot install $*"; exit 3
    fi
  fi
  peer_installed || { peer_log "ERROR: install finished but $what"; exit 4; }
  peer_log "installed in $(( $(date +%s) - t0 )) s"
}

# peer_refuse_busy STATE PORT [STALE...]: exit 5 if the instance STATE/gw.pid names is still
# alive (starting a second one would orphan it) or if something listens on PORT (the gateway
# would die on bind, or worse, the suite would test whatever is there). Clears the stale pid
# file of a dead instance and the caller's other STALE files.
peer_refuse_busy() {
  local state="$1" port="$2"; shift 2
  local pidf="$state/gw.pid"
  mkdir -p "$state"
  if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
    peer_log "ERROR: already running (pid $(cat "$pidf")); stop it first with stop.sh $port"; exit 5
  fi
  rm -f "$pidf" "$@"
  if ss -ltn 2>/dev/null | awk '{print $4}' | grep -qE "[:.]$port\$"; then
    peer_log "ERROR: port $port is already in use"; exit 5
  fi
}

# peer_start_group STATE COMMAND...: start COMMAND in the background in a session of its own, so
# that it leads a process group stop.sh can end as a whole (and that no terminal signal of the
# caller's reaches it). The sh in between writes its own pid to STATE/gw.pid and then execs
# COMMAND, so that pid is COMMAND's pid and process group id. Runs in STATE, output to
# STATE/gw.log. Exit 6 if the pid file is not written within 5 s.
peer_start_group() {
  local state="$1"; shift
  local pidf="$state/gw.pid"
  ( cd "$state" && exec setsid sh -c 'echo $$ > "$0"; exec "$@"' "$pidf" "$@" \
      > "$state/gw.log" 2>&1 < /dev/null ) &
  for _ in $(seq 1 50); do [ -s "$pidf" ] && break; sleep 0.1; done
  [ -s "$pidf" ] || { peer_log "ERROR: gateway did not start; see $state/gw.log"; exit 6; }
}

# peer_wait_ready STATE PORT PID PATH TIMEOUT INTERVAL: poll http://127.0.0.1:PORT/PATH every
# INTERVAL seconds until it answers 2xx, and set PEER_READY_S to the seconds that took. Exit 6
# (with the log's tail) when PID dies first: a bad config ends the gateway at start-up, and
# waiting out the timeout would only hide why. Exit 7 after TIMEOUT seconds, leaving it running
# so its state can be looked at (stop.sh stops it).
peer_wait_ready() {
  local state="$1" port="$2" pid="$3" path="$4" timeout="$5" interval="$6"
  local t0; t0=$(date +%s)
  while :; do
    if curl -sf -m 2 "http://127.0.0.1:$port$path" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      peer_log "ERROR: gateway exited during start-up; last log lines:"; tail -30 "$state/gw.log" >&2
      rm -f "$state/gw.pid"; exit 6
    fi
    if [ $(( $(date +%s) - t0 )) -ge "$timeout" ]; then
      peer_log "ERROR: not answering after ${timeout} s; see $state/gw.log (still running: stop.sh $port)"; exit 7
    fi
    sleep "$interval"
  done
  PEER_READY_S=$(( $(date +%s) - t0 ))
}

# peer_publish STATE PORT VERSION PID CONFIG: how to reach the running gateway, for a later shell
# (STATE/connection.env) and for the caller (URL=... on stdout, run.sh's only output there).
peer_publish() {
  printf 'URL=http://127.0.0.1:%s\nVERSION=%s\nPID=%s\nCONFIG=%s\n' "$2" "$3" "$4" "$5" > "$1/connection.env"
  echo "URL=http://127.0.0.1:$2"
}

# peer_stop_group STATE PORT [BEFORE]: stop the process group run.sh started (STATE/gw.pid;
# pid == pgid), by id and nothing else: TERM, up to 10 s to exit (uvicorn shuts down in well under
# a second when idle; open SSE streams can hold it longer), then KILL. The bare pid is the
# fallback when the group cannot be signalled. BEFORE, if given, is called with the pid while
# the gateway is still alive, just before TERM (to note what it started elsewhere). No pid file:
# nothing to stop, exit 0. The caller removes the pid file once it has cleaned up everything.
peer_stop_group() {
  local state="$1" port="$2" before="${3:-}"
  local pidf="$state/gw.pid" pid
  [ -f "$pidf" ] || { echo "[$PEER_TAG] no pid file at $pidf"; exit 0; }
  pid="$(cat "$pidf")"
  if kill -0 "$pid" 2>/dev/null; then
    [ -z "$before" ] || "$before" "$pid"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"; fi
    echo "[$PEER_TAG] stopped pid $pid (port $port)"
  else
    echo "[$PEER_TAG] pid $pid not running"
  fi
}

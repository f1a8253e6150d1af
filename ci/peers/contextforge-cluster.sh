#!/usr/bin/env bash
# Regression gate against real IBM ContextForge in its cluster configuration (issue 14): two
# gateway processes on two loopback ports, sharing one Redis (Debian's redis-server, session
# affinity: owner registry, forwarding over pub/sub) and one database, with stateful sessions.
# Each worker is reachable on its own URL, so a step's `via` picks the worker for sure. The
# suite runs with the contextforge manifest plus a `cluster` section written here: where the
# workers log a forwarded request, and the commands that kill and restart a worker and pause
# Redis. Only scenarios written for a stateful cluster run (the rest are NOT-APPLICABLE there).
# Then the same gateway as `mcpgateway --workers 2` on one port, where the suite cannot choose
# the worker: the forwarding scenarios again, each forwarded step sent until a forward shows.
#
# Usage: ci/peers/contextforge-cluster.sh [--bless] [more `mcpgw-conformance run` arguments...]
# Exit codes as ci/peers/contextforge.sh: 0 passed, 1 failed, 2 usage, 3 NOT RUN (PyPI
# unreachable), 4 ContextForge or Redis could not be started.
#
# Environment:
#   MCPGW_CFC_REPORT_DIR  reports (default: target/conformance/contextforge-cluster)
#   MCPGW_CFC_BASELINE    baseline (default: baselines/contextforge-<version>-cluster.yaml)
#   MCPGW_PEERS_DIR, CF_HOME, CF_VERSION, CF_PYTHON  as for ci/peers/contextforge.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
T0=$(date +%s)
log() { printf '[contextforge-cluster-gate] %s\n' "$*" >&2; }
since() { echo $(( $(date +%s) - $1 )); }

. ci/peers/contextforge-common.sh
command -v redis-server >/dev/null || { log "ERROR: redis-server is not installed"; exit 4; }

REPORTS="${MCPGW_CFC_REPORT_DIR:-$ROOT/target/conformance/contextforge-cluster}"
mkdir -p "$REPORTS"
rm -rf "$REPORTS"/{report.json,junit.xml,summary.md,report.html,worker-0.log,worker-1.log,manifest.yaml,one-url}

free_ports() {
  local n="$1" p out=()
  for p in $(seq 4640 4680); do
    port_free "$p" && out+=("$p")
    [ "${#out[@]}" = "$n" ] && { echo "${out[@]}"; return 0; }
  done
  return 1
}
read -r RPORT P0 P1 < <(free_ports 3) || { log "ERROR: no three free ports in 4640-4680"; exit 4; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/mcpgw-cfc-gate.XXXXXX")"
stop_all() {
  for w in w0 w1 one; do
    [ -f "$WORK/$w/gw.pid" ] && CF_STATE="$WORK/$w" "$PEERS/contextforge/stop.sh" "$(cat "$WORK/$w/port")" >&2 || true
  done
  if [ -f "$WORK/redis.pid" ]; then
    kill -CONT "$(cat "$WORK/redis.pid")" 2>/dev/null || true
    kill "$(cat "$WORK/redis.pid")" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap stop_all EXIT

# ---- 1. Redis, on loopback, no persistence ----
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
  --pidfile "$WORK/redis.pid" --daemonize yes --logfile "$WORK/redis.log" >/dev/null
for _ in $(seq 1 50); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$RPORT" ping >/dev/null || { log "ERROR: Redis did not start"; exit 4; }

# ---- 2. the workers: one command starts (and restarts) worker N with the shared settings ----
# Worker 0 makes the database and the secrets; worker 1 uses both.
cat > "$WORK/start-worker.sh" <<EOF
#!/usr/bin/env bash
# Start ContextForge worker \$1 of this gate (again: same port, same state).
set -euo pipefail
i="\$1"
mkdir -p "$WORK/w\$i"
[ "\$i" = 0 ] || cp "$WORK/w0/secrets.env" "$WORK/w\$i/secrets.env"
port=\$([ "\$i" = 0 ] && echo $P0 || echo $P1)
echo "\$port" > "$WORK/w\$i/port"
CF_STATE="$WORK/w\$i" \\
CF_EXTRA_ENV="DATABASE_URL=sqlite:///$WORK/w0/mcp.db CACHE_TYPE=redis REDIS_URL=redis://127.0.0.1:$RPORT/0 MCPGATEWAY_SESSION_AFFINITY_ENABLED=true USE_STATEFUL_SESSIONS=true" \\
  "$PEERS/contextforge/run.sh" "\$port" > "$WORK/w\$i/run.out"
EOF
chmod +x "$WORK/start-worker.sh"

T_START=$(date +%s)
for i in 0 1; do
  log "starting worker $i"
  if ! "$WORK/start-worker.sh" "$i" 2> "$WORK/start-$i.err"; then
    cat "$WORK/start-$i.err" >&2
    if grep -q "installing mcp-contextforge-gateway" "$WORK/start-$i.err" && ! registry_reachable; then
      log "NOT RUN: pip cannot reach the package index to install mcp-contextforge-gateway"
      printf '## ContextForge cluster gate: NOT RUN\n\nPyPI unreachable; nothing was tested (exit 3).\n' > "$REPORTS/summary.md"
      exit 3
    fi
    log "ERROR: ContextForge worker $i could not be started"
    exit 4
  fi
done
START_S=$(since "$T_START")
set -a; . "$WORK/w0/connection.env"; set +a
URL0="$URL"; URL1="http://127.0.0.1:$P1"
log "ContextForge $VERSION: workers $URL0 and $URL1 on Redis :$RPORT, up in ${START_S}s"

BASELINE="${MCPGW_CFC_BASELINE:-baselines/contextforge-$VERSION-cluster.yaml}"
if [ ! -f "$BASELINE" ] && [ "$BLESS" = 0 ]; then
  log "ERROR: no baseline $BASELINE (create it with --bless)"; exit 2
fi

# ---- 3. the manifest: ContextForge's, plus how this cluster shows forwards and is broken ----
# ContextForge's heartbeat key lives a fixed 30 s: a kill also deletes the dead worker's key, as
# its expiry would, so that the take-over does not race the scenario's retry window.
HOST="$(hostname)"
{
  cat gateways/contextforge.yaml
  cat <<EOF
cluster:
  forwards:
    logs: ["\${env:MCPGW_CFC_LOG0}", "\${env:MCPGW_CFC_LOG1}"]
    # streamablehttp_transport, on the worker that received the request.
    pattern: "Forwarding HTTP request"
  faults:
    kill_worker: >-
      pid=\$(cat $WORK/w{worker}/gw.pid) && pkill -KILL -g \$pid &&
      while kill -0 \$pid 2>/dev/null; do sleep 0.1; done &&
      redis-cli -p $RPORT del mcpgw:worker_heartbeat:$HOST:\$pid >/dev/null
    restart_worker: "$WORK/start-worker.sh {worker}"
    pause_redis: "kill -STOP \$(cat $WORK/redis.pid)"
    unpause_redis: "kill -CONT \$(cat $WORK/redis.pid)"
EOF
} > "$WORK/manifest.yaml"
cp "$WORK/manifest.yaml" "$REPORTS/manifest.yaml"
export MCPGW_CFC_LOG0="$WORK/w0/gw.log" MCPGW_CFC_LOG1="$WORK/w1/gw.log"

T_BUILD=$(date +%s)
cargo build -q -p mcpgw-conformance
BIN="$ROOT/target/debug/mcpgw-conformance"
BUILD_S=$(since "$T_BUILD")
python3 ci/peers/inventory.py "$URL0" "$TOKEN" --out "$WORK/before.json" > /dev/null

# ---- 4. the suite ----
T_SUITE=$(date +%s)
RUN=(run --quiet --target-file "$WORK/manifest.yaml" --target "$URL0,$URL1" --token="$TOKEN"
     --jwt-secret="$JWT_SECRET" --baseline "$BASELINE" --report-dir "$REPORTS")
cf_run_suite "$BIN" "${RUN[@]}"
SUITE_S=$(since "$T_SUITE")

# ---- 5. nothing left behind ----
log "admin inventory after the run (what the run created and did not delete):"
if ! python3 ci/peers/inventory.py "$URL0" "$TOKEN" --compare "$WORK/before.json" >&2; then
  log "ERROR: the run left fixtures behind"
  [ "$RC" = 0 ] && RC=1
fi
for i in 0 1; do
  CF_STATE="$WORK/w$i" "$PEERS/contextforge/stop.sh" "$(cat "$WORK/w$i/port")" >&2 || true
  cp "$WORK/w$i/gw.log" "$REPORTS/worker-$i.log" 2>/dev/null || true
done

# ---- 6. the same gateway as two uvicorn workers behind ONE port: the suite cannot pick the
# worker, so each step that expects a forward is sent again until the log shows one
# (`workers_per_url`); every answer must hold. The scenarios of issue 3018's forward (not
# forwarded-session-keeps-its-owner: there the refusal's form depends on the worker the kernel
# picks, 403 on the owner and 200 -32003 through a forward). ----
T_ONE=$(date +%s)
ONE_REPORTS="$REPORTS/one-url"
mkdir -p "$ONE_REPORTS"
ONE_STATE="$WORK/one"
mkdir -p "$ONE_STATE"
cp "$WORK/w0/secrets.env" "$ONE_STATE/secrets.env"
read -r PONE < <(free_ports 1) || { log "ERROR: no free port for the one-URL cluster"; exit 4; }
echo "$PONE" > "$ONE_STATE/port"
CF_STATE="$ONE_STATE" CF_WORKERS=2 \
CF_EXTRA_ENV="CACHE_TYPE=redis REDIS_URL=redis://127.0.0.1:$RPORT/1 MCPGATEWAY_SESSION_AFFINITY_ENABLED=true USE_STATEFUL_SESSIONS=true" \
  "$PEERS/contextforge/run.sh" "$PONE" > "$ONE_STATE/run.out" 2> "$ONE_STATE/run.err" \
  || { cat "$ONE_STATE/run.err" >&2; log "ERROR: ContextForge --workers 2 could not be started"; exit 4; }
set -a; . "$ONE_STATE/connection.env"; set +a
{
  cat gateways/contextforge.yaml
  cat <<EOF
cluster:
  workers_per_url: 2
  # The kernel hands most connections to one of the two processes (a step once took 19
  # sends): enough sends that a forward shows whatever the split.
  repeat: 200
  forwards:
    logs: ["$ONE_STATE/gw.log"]
    pattern: "Forwarding HTTP request"
EOF
} > "$ONE_REPORTS/manifest.yaml"
python3 ci/peers/inventory.py "$URL" "$TOKEN" --out "$WORK/before-one.json" > /dev/null
set +e
CI=true "$BIN" run --quiet --target-file "$ONE_REPORTS/manifest.yaml" --target "$URL" --token="$TOKEN" \
  --jwt-secret="$JWT_SECRET" --baseline "$BASELINE" --report-dir "$ONE_REPORTS" \
  --scenario affinity/forwarded-request-keeps-server-scope \
  --scenario affinity/forwarded-global-mcp-keeps-token-scope
ORC=$?
set -e
if ! python3 ci/peers/inventory.py "$URL" "$TOKEN" --compare "$WORK/before-one.json" >&2; then
  log "ERROR: the one-URL run left fixtures behind"
  [ "$ORC" = 0 ] && ORC=1
fi
CF_STATE="$ONE_STATE" "$PEERS/contextforge/stop.sh" "$PONE" >&2 || true
cp "$ONE_STATE/gw.log" "$ONE_REPORTS/gateway.log" 2>/dev/null || true
ONE_S=$(since "$T_ONE")
[ "$RC" = 0 ] && RC=$ORC

[ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -f "$REPORTS/summary.md" ] && cat "$REPORTS/summary.md" >> "$GITHUB_STEP_SUMMARY"
log "reports: $REPORTS/{report.html,summary.md,report.json,junit.xml,manifest.yaml,worker-*.log} and one-url/"
log "timings: start ${START_S}s, harness build ${BUILD_S}s, suite ${SUITE_S}s, one URL ${ONE_S}s, total $(since "$T0")s; exit $RC"
exit "$RC"

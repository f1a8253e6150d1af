#!/usr/bin/env bash
# Benchmarks for issue 8, measured side by side in one run on this machine, printed as figures
# and ratios (never asserted: these machines are noisy).
#
#   ci/bench/run.sh [SECONDS]        (default 10 s per load run)
#
# 1. Reference vs the ceiling (a bare hyper server with the same connection settings returning a
#    fixed tools/list body): POST /rpc tools/list and POST /servers/{id}/mcp tools/list with a
#    server-scoped API token (JWT verification, scoping, JSON-RPC), 64 connections, wrk.
# 2. The same two requests against ContextForge 1.1.0 with 2 workers (BENCH_CONTEXTFORGE=0 skips).
# 3. The conformance suite's wall time against the in-process reference, and scenarios per
#    second against the reference as an external URL.
# 4. cargo-fuzz executions per second per target (BENCH_FUZZ=0 skips; ci/fuzz.sh 10).
# 5. A network fuzz campaign against the same reference process (`mcpgw-conformance fuzz`,
#    BENCH_CAMPAIGN_CASES cases, default 40000, --jobs BENCH_CAMPAIGN_JOBS, default 64): its
#    requests per second beside wrk's POST /rpc tools/list figure (issue 19 §6);
#    BENCH_CAMPAIGN_CASES=0 skips.
# 6. Cluster mode (issue 17 §4): two reference workers on a real Redis and Postgres (native
#    processes in a temporary directory, as conformance/src/services/native.rs starts them),
#    POST /rpc tools/list on each worker beside the single in-memory node, both workers at once
#    (two wrk -c32 at the same time), and a third worker without the read cache
#    (MCPGW_STORE_READ_CACHE=false) for what the cache is worth. BENCH_CLUSTER=0 skips.
# Load runs alternate between targets and each is taken twice; the better run counts, so a
# burst of background load hurts both sides alike.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-10}"
conns=64
here=ci/bench
work=$(mktemp -d)
pids=()
pg_pid=
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -n "$pg_pid" ] && kill -INT "$pg_pid" 2>/dev/null && wait "$pg_pid" 2>/dev/null; [ -n "${cf_port:-}" ] && bash ../shared/peers/contextforge/stop.sh "$cf_port" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
log() { echo "[bench] $*" >&2; }
command -v wrk >/dev/null || { log "installing wrk"; DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_health() { for _ in $(seq 1 200); do curl -sf "$1/health" >/dev/null 2>&1 && return 0; sleep 0.1; done; log "no answer from $1"; return 1; }

log "building release binaries"
cargo build -q --release -p mcpgw-reference --bin mcpgw-reference --example ceiling
cargo build -q --release -p mcpgw-conformance

# wrk script: POST a JSON body with headers; prints nothing itself.
lua() {  # lua FILE TOKEN
  cat > "$1" <<LUA
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Authorization"] = "Bearer $2"
LUA
}
# load URL SCRIPT [SECONDS] -> "rps p99_ms"
load() {
  # --timeout 30s: a slow target's requests are measured, not dropped as timeouts (wrk's 2 s
  # default leaves them out of the latency figures).
  wrk -t1 -c"$conns" -d"${3:-$secs}s" --timeout 30s --latency -s "$2" "$1" | awk '
    /Requests\/sec/ {rps=$2}
    $1=="99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v=v/1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v=v*1000}; p99=v}
    /Non-2xx/ {bad=$NF}
    /Socket errors/ {errs=$0}
    END {if (bad>0) {print "ERROR non-2xx responses:", bad; exit 1}; if (errs != "") {print "ERROR " errs > "/dev/stderr"}; printf "%d %.2f\n", rps, p99}'
}
# load_pair URL1 URL2 SCRIPT -> "rps p99_ms": two wrk with half the connections each at the same
# time; requests per second summed, the worse p99.
load_pair() {
  local half=$((conns / 2)) a b
  conns=$half load "$1" "$3" > "$work/pair1" & local p1=$!
  conns=$half load "$2" "$3" > "$work/pair2" & local p2=$!
  wait "$p1" "$p2"
  read -r a ap < "$work/pair1"; read -r b bp < "$work/pair2"
  python3 -c "import sys; print(int(sys.argv[1]) + int(sys.argv[2]), max(float(sys.argv[3]), float(sys.argv[4])))" "$a" "$b" "$ap" "$bp"
}
best() { # best "rps p99" "rps p99" -> the one with more rps
  if [ "${1%% *}" -ge "${2%% *}" ]; then echo "$1"; else echo "$2"; fi
}

# --- targets ---------------------------------------------------------------------------------
ceil_port=$(free_port); ./target/release/examples/ceiling "$ceil_port" >/dev/null & pids+=($!)
ref_port=$(free_port)
JWT_SECRET_KEY=bench-secret ./target/release/mcpgw-reference --port "$ref_port" > "$work/ref.out" 2>&1 & pids+=($!)
wait_health "http://127.0.0.1:$ref_port"
ref_admin=$(grep '^TOKEN=' "$work/ref.out" | cut -d= -f2)
read -r ref_sid ref_tok < <(python3 $here/provision.py "http://127.0.0.1:$ref_port" "$ref_admin")
lua "$work/ref.lua" "$ref_tok"; lua "$work/ceil.lua" unused

# --- the cluster: native Redis and Postgres, two workers with the read cache, one without -----
if [ "${BENCH_CLUSTER:-1}" = 1 ]; then
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  log "starting redis-server and postgres ($pgbin) in $work"
  redis_port=$(free_port); pg_port=$(free_port)
  mkdir -p "$work/redis" "$work/pg"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work/redis" >/dev/null & pids+=($!)
  # initdb and postgres refuse to run as root: they run as nobody, in a directory nobody owns.
  chmod 755 "$work"; chown -R 65534:65534 "$work/pg"
  nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  "${nobody[@]}" "$pgbin/initdb" -U postgres --auth=trust -E UTF8 --locale=C -D "$work/pg/data" >/dev/null
  # setpriv execs postgres: $! is the server itself, so the cleanup's SIGINT (fast shutdown)
  # reaches it.
  "${nobody[@]}" "$pgbin/postgres" -D "$work/pg/data" -p "$pg_port" -c listen_addresses=127.0.0.1 -c fsync=off \
    -c "unix_socket_directories=$work/pg" > "$work/pg.log" 2>&1 & pg_pid=$!
  for _ in $(seq 1 100); do "$pgbin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" && break; sleep 0.1; done
  for _ in $(seq 1 100); do [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
  worker() { # worker N [ENV=VALUE...] -> starts it, records its port in cw_port[N]
    local n=$1; shift
    cw_port[$n]=$(free_port)
    env "$@" DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres" REDIS_URL="redis://127.0.0.1:$redis_port" \
      CLUSTER_SECRET=bench-cluster-secret JWT_SECRET_KEY=bench-secret \
      ./target/release/mcpgw-reference --port "${cw_port[$n]}" > "$work/worker$n.out" 2>&1 & pids+=($!)
    wait_health "http://127.0.0.1:${cw_port[$n]}"
  }
  declare -a cw_port
  worker 0 WORKER_ID=bench-0   # first: it runs the migrations
  worker 1 WORKER_ID=bench-1
  worker 2 WORKER_ID=bench-nocache MCPGW_STORE_READ_CACHE=false
  cl_admin=$(grep '^TOKEN=' "$work/worker0.out" | cut -d= -f2)
  read -r cl_sid cl_tok < <(python3 $here/provision.py "http://127.0.0.1:${cw_port[0]}" "$cl_admin")
  lua "$work/cluster.lua" "$cl_tok"
fi

declare -A R
measure() { # name url script
  local a b
  a=$(load "$2" "$3"); b=$(load "$2" "$3")
  R[$1]=$(best "$a" "$b")
}
log "load: ${secs}s x 2 per target, $conns connections"
for round in 1 2; do
  a=$(load "http://127.0.0.1:$ceil_port/rpc" "$work/ceil.lua"); R[ceiling_$round]=$a
  a=$(load "http://127.0.0.1:$ref_port/rpc" "$work/ref.lua"); R[ref_rpc_$round]=$a
  a=$(load "http://127.0.0.1:$ref_port/servers/$ref_sid/mcp" "$work/ref.lua"); R[ref_mcp_$round]=$a
  if [ "${BENCH_CLUSTER:-1}" = 1 ]; then
    for n in 0 1 2; do R[cw${n}_$round]=$(load "http://127.0.0.1:${cw_port[$n]}/rpc" "$work/cluster.lua"); done
    R[cw_both_$round]=$(load_pair "http://127.0.0.1:${cw_port[0]}/rpc" "http://127.0.0.1:${cw_port[1]}/rpc" "$work/cluster.lua")
  fi
done
if [ "${BENCH_CLUSTER:-1}" = 1 ]; then
  for k in cw0 cw1 cw2 cw_both; do R[$k]=$(best "${R[${k}_1]}" "${R[${k}_2]}"); done
fi
R[ceiling]=$(best "${R[ceiling_1]}" "${R[ceiling_2]}")
R[ref_rpc]=$(best "${R[ref_rpc_1]}" "${R[ref_rpc_2]}")
R[ref_mcp]=$(best "${R[ref_mcp_1]}" "${R[ref_mcp_2]}")

if [ "${BENCH_CONTEXTFORGE:-1}" = 1 ]; then
  cf_port=4690
  cf_secs=$(( secs > 20 ? secs : 20 ))
  log "starting ContextForge with 2 workers on $cf_port"
  CF_WORKERS=2 CF_FRESH=1 bash ../shared/peers/contextforge/run.sh "$cf_port" > "$work/cf.out"
  . "$HOME/.cache/mcpgw-peers/cf-state-$cf_port/connection.env"
  read -r cf_sid cf_tok < <(python3 $here/provision.py "$URL" "$TOKEN")
  lua "$work/cf.lua" "$cf_tok"
  for round in 1 2; do
    # ContextForge answers tens of requests a second: a short run would hold a handful.
    R[cf_rpc_$round]=$(load "$URL/rpc" "$work/cf.lua" "$cf_secs")
    R[cf_mcp_$round]=$(load "$URL/servers/$cf_sid/mcp" "$work/cf.lua" "$cf_secs")
  done
  R[cf_rpc]=$(best "${R[cf_rpc_1]}" "${R[cf_rpc_2]}")
  R[cf_mcp]=$(best "${R[cf_mcp_1]}" "${R[cf_mcp_2]}")
  cf_version=$VERSION
fi

# --- the suite ---------------------------------------------------------------------------------
log "conformance suite wall time"
suite_in=$( { /usr/bin/time -f "%e" ./target/release/mcpgw-conformance run --quiet >/dev/null; } 2>&1 | tail -1 )
ext_out=$( { /usr/bin/time -f "%e" ./target/release/mcpgw-conformance run --quiet --target "http://127.0.0.1:$ref_port" \
  --jwt-secret bench-secret >/dev/null; } 2>&1 | tail -1 )
n_scen=$(find scenarios -name '*.yaml' | wc -l)

# --- the fuzz campaign -------------------------------------------------------------------------
camp_cases="${BENCH_CAMPAIGN_CASES:-40000}"; camp_jobs="${BENCH_CAMPAIGN_JOBS:-64}"
camp_line=; camp_rps=
if [ "$camp_cases" -gt 0 ]; then
  log "fuzz campaign: $camp_cases cases, --jobs $camp_jobs, against the same reference"
  # First line: "PASS: N case(s) in S s (R cases/s), seed 1; ...". One case is one request, but
  # for a failure sent again alone (none on the reference) and shrinking (none either).
  camp_line=$(./target/release/mcpgw-conformance fuzz --quiet --no-write --seed 1 \
    --cases "$camp_cases" --jobs "$camp_jobs" --target "http://127.0.0.1:$ref_port" \
    --jwt-secret bench-secret | head -1)
  camp_rps=$(echo "$camp_line" | sed -n 's/.*(\([0-9]*\) cases\/s).*/\1/p')
fi

# --- report ------------------------------------------------------------------------------------
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}' if b else 'n/a')" "$1" "$2"; }
rps() { echo "${1%% *}"; }; p99() { echo "${1##* }"; }
echo
echo "## Benchmarks ($(date -u +%F), $(nproc) cores, load ${secs}s x 2 per target, $conns connections, wrk -t1)"
echo
echo "| request | target | req/s | p99 ms | ratio |"
echo "|---|---|---|---|---|"
echo "| POST /rpc tools/list | ceiling (bare hyper, fixed body) | $(rps "${R[ceiling]}") | $(p99 "${R[ceiling]}") | 1.00 |"
echo "| POST /rpc tools/list | reference | $(rps "${R[ref_rpc]}") | $(p99 "${R[ref_rpc]}") | $(ratio "$(rps "${R[ref_rpc]}")" "$(rps "${R[ceiling]}")") of ceiling |"
echo "| POST /servers/{id}/mcp tools/list | reference | $(rps "${R[ref_mcp]}") | $(p99 "${R[ref_mcp]}") | $(ratio "$(rps "${R[ref_mcp]}")" "$(rps "${R[ceiling]}")") of ceiling |"
if [ -n "${R[cf_rpc]:-}" ]; then
  echo "| POST /rpc tools/list | ContextForge $cf_version, 2 workers | $(rps "${R[cf_rpc]}") | $(p99 "${R[cf_rpc]}") | reference is $(ratio "$(rps "${R[ref_rpc]}")" "$(rps "${R[cf_rpc]}")")x |"
  echo "| POST /servers/{id}/mcp tools/list | ContextForge $cf_version, 2 workers | $(rps "${R[cf_mcp]}") | $(p99 "${R[cf_mcp]}") | reference is $(ratio "$(rps "${R[ref_mcp]}")" "$(rps "${R[cf_mcp]}")")x |"
fi
[ -n "$camp_line" ] && echo "| fuzz campaign ($camp_cases cases, --jobs $camp_jobs; \`${camp_line%%,*}\`) | reference | ${camp_rps:-n/a} | - | $(ratio "${camp_rps:-0}" "$(rps "${R[ref_rpc]}")") of reference /rpc |"
if [ -n "${R[cw0]:-}" ]; then
  single=$(rps "${R[ref_rpc]}")
  echo
  echo "| POST /rpc tools/list on | req/s | p99 ms | ratio |"
  echo "|---|---|---|---|"
  echo "| single node, in-memory store | $single | $(p99 "${R[ref_rpc]}") | 1.00 |"
  echo "| cluster worker 0 (Postgres + Redis, read cache) | $(rps "${R[cw0]}") | $(p99 "${R[cw0]}") | $(ratio "$(rps "${R[cw0]}")" "$single") of single node |"
  echo "| cluster worker 1 (Postgres + Redis, read cache) | $(rps "${R[cw1]}") | $(p99 "${R[cw1]}") | $(ratio "$(rps "${R[cw1]}")" "$single") of single node |"
  echo "| both workers at once (2 x wrk -c$((conns / 2)), summed) | $(rps "${R[cw_both]}") | $(p99 "${R[cw_both]}") | $(ratio "$(rps "${R[cw_both]}")" "$single") of single node |"
  echo "| cluster worker without the read cache (MCPGW_STORE_READ_CACHE=false) | $(rps "${R[cw2]}") | $(p99 "${R[cw2]}") | $(ratio "$(rps "${R[cw2]}")" "$single") of single node |"
fi
echo
echo "| suite | wall s | scenarios/s |"
echo "|---|---|---|"
echo "| $n_scen scenarios, in-process reference | $suite_in | $(ratio "$n_scen" "$suite_in") |"
echo "| $n_scen scenarios, reference as external URL | $ext_out | $(ratio "$n_scen" "$ext_out") |"
if [ "${BENCH_FUZZ:-1}" = 1 ]; then
  echo
  echo "cargo-fuzz executions per second (ci/fuzz.sh 10):"
  echo
  bash ci/fuzz.sh 10 2>&1 | sed -n '/^target  *executions/,$p'
fi

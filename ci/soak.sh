#!/usr/bin/env bash
# Soak test of the release reference (issue 17 item 2): 64 keep-alive connections for SECONDS
# on a rotation of POST /rpc tools/list, POST /servers/{id}/mcp tools/list and GET /servers
# (admin), on loopback, then a Markdown summary: requests, errors (non-2xx + socket errors;
# goal 0), p99 latency, and the reference's resident memory after a warm-up and at the end
# (goal: flat within 10 %). Not part of CI: it takes SECONDS plus a release build.
#
#   ci/soak.sh [SECONDS]        (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-300}"
conns=64
# Memory is first sampled after this warm-up (allocator pools, token cache, connection buffers
# filled), then every 5 s until the load ends.
warmup=$(( secs / 10 > 30 ? 30 : (secs / 10 < 2 ? 2 : secs / 10) ))
target="${CARGO_TARGET_DIR:-target}"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
log() { echo "[soak] $*" >&2; }
command -v wrk >/dev/null || { log "installing wrk"; DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_health() { for _ in $(seq 1 200); do curl -sf "$1/health" >/dev/null 2>&1 && return 0; sleep 0.1; done; log "no answer from $1"; return 1; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

log "building the release reference"
cargo build -q --release -p mcpgw-reference --bin mcpgw-reference

port=$(free_port)
base="http://127.0.0.1:$port"
JWT_SECRET_KEY=soak-secret "$target/release/mcpgw-reference" --port "$port" > "$work/ref.out" 2>&1 &
ref_pid=$!; pids+=("$ref_pid")
wait_health "$base"
admin=$(grep '^TOKEN=' "$work/ref.out" | cut -d= -f2)

# Three virtual servers of three REST tools each, and a server-scoped token (tools.read) for
# each, made through the admin API as ci/bench does.
servers=()
for _ in 1 2 3; do
  read -r sid tok < <(python3 ci/bench/provision.py "$base" "$admin")
  servers+=("$sid $tok")
done

# The rotation: every server's two MCP requests, then an admin read of the servers list.
{
  echo 'local reqs = {}'
  echo 'local body = [[{"jsonrpc":"2.0","id":1,"method":"tools/list"}]]'
  echo 'local function rpc(path, tok)'
  echo '  return wrk.format("POST", path, {["Content-Type"] = "application/json",'
  echo '    ["Accept"] = "application/json, text/event-stream", ["Authorization"] = "Bearer " .. tok}, body)'
  echo 'end'
  for s in "${servers[@]}"; do
    read -r sid tok <<< "$s"
    echo "table.insert(reqs, rpc(\"/rpc\", \"$tok\"))"
    echo "table.insert(reqs, rpc(\"/servers/$sid/mcp\", \"$tok\"))"
    echo "table.insert(reqs, wrk.format(\"GET\", \"/servers\", {[\"Authorization\"] = \"Bearer $admin\"}))"
  done
  echo 'local i = 0'
  echo 'request = function() i = i % #reqs + 1; return reqs[i] end'
} > "$work/rotate.lua"

log "load: $conns connections for ${secs}s (memory sampled after ${warmup}s, then every 5 s)"
# --timeout 30s: a slow answer is measured, not dropped as a timeout (wrk's default is 2 s).
wrk -t1 -c"$conns" -d"${secs}s" --timeout 30s --latency -s "$work/rotate.lua" "$base" > "$work/wrk.out" 2>&1 &
wrk_pid=$!; pids+=("$wrk_pid")
sleep "$warmup"
rss_start=$(rss_kib "$ref_pid"); rss_end=$rss_start; rss_peak=$rss_start
while kill -0 "$wrk_pid" 2>/dev/null; do
  sleep 5
  # The last sample taken while wrk still runs is the end figure.
  kill -0 "$wrk_pid" 2>/dev/null || break
  r=$(rss_kib "$ref_pid") || break
  rss_end=$r; [ "$r" -gt "$rss_peak" ] && rss_peak=$r
done
wait "$wrk_pid" || { log "wrk failed:"; cat "$work/wrk.out" >&2; exit 1; }
alive=no; curl -sf "$base/health" >/dev/null 2>&1 && alive=yes

awk -v rs="$rss_start" -v re="$rss_end" -v rp="$rss_peak" -v secs="$secs" -v conns="$conns" \
    -v warm="$warmup" -v alive="$alive" -v day="$(date -u +%F)" -v cores="$(nproc)" '
  / requests in / {total=$1}
  /Requests\/sec/ {rps=$2}
  $1=="99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v=v/1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v=v*1000}; p99=v}
  /Non-2xx/ {bad=$NF}
  /Socket errors/ {gsub(",",""); sock=$4+$6+$8+$10}
  END {
    errors = bad + sock
    ratio = rs > 0 ? re / rs : 0
    printf "## Soak (%s, %d cores, %d s, %d connections, wrk -t1)\n\n", day, cores, secs, conns
    print "| figure | value | goal |"
    print "|---|---|---|"
    printf "| requests | %d (%d req/s) | - |\n", total, rps
    printf "| errors (non-2xx + socket) | %d (non-2xx %d, socket %d) | 0 |\n", errors, bad, sock
    printf "| p99 latency | %.2f ms | - |\n", p99
    printf "| RSS after %d s warm-up | %.1f MiB | - |\n", warm, rs / 1024
    printf "| RSS at the end | %.1f MiB (peak %.1f MiB) | - |\n", re / 1024, rp / 1024
    printf "| RSS end / start | %.3f | 0.90-1.10 |\n", ratio
    printf "| /health after the soak | %s | yes |\n", alive
    verdict = (errors == 0 && ratio >= 0.9 && ratio <= 1.1 && alive == "yes") ? "met" : "NOT met"
    printf "\nGoals %s.\n", verdict
    exit (verdict == "met" ? 0 : 1)
  }' "$work/wrk.out"

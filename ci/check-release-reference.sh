#!/usr/bin/env bash
# Issue 13: the release `mcpgw-reference` can run the strict policy only. Builds the reference
# crate alone, with its own features (no `defects`, which only the harness turns on), then checks
# that the binary refuses `--inject-defect` (a clap usage error, exit 2) and that
# `MCPGW_INJECT_DEFECT` in its environment changes nothing: started with two defects named there,
# it still refuses a dot-segment path (400) and still lets a server-scoped token use `/rpc` (200).
# (`reference/tests/binary_policy.rs` checks the same of the binary built with the workspace's
# features, under `cargo test`.) Bounded: every wait and request has a timeout.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p mcpgw-reference
bin="${CARGO_TARGET_DIR:-target}/release/mcpgw-reference"
fail() { echo "check-release-reference: FAIL: $*" >&2; exit 1; }

# 1. No such flag.
rc=0
err="$(env -i "$bin" --inject-defect rpc-not-general-endpoint 2>&1 >/dev/null)" || rc=$?
[ "$rc" = 2 ] || fail "--inject-defect: exit $rc, expected clap's 2: $err"
grep -q "unexpected argument '--inject-defect'" <<<"$err" || fail "--inject-defect: $err"
echo "ok: --inject-defect is refused (exit 2)"

# 2. The variable is not read.
work="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
env -i HOST=127.0.0.1 PORT=0 JWT_SECRET_KEY=check-release-reference RUST_LOG=warn \
  MCPGW_INJECT_DEFECT=rpc-not-general-endpoint,normalise-dot-segments \
  "$bin" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do
  grep -q '^TOKEN=' "$work/out" && break
  kill -0 "$pid" 2>/dev/null || fail "the binary exited: $(cat "$work/err")"
  sleep 0.1
done
url="$(sed -n 's/^URL=//p' "$work/out")"
admin="$(sed -n 's/^TOKEN=//p' "$work/out")"
[ -n "$url" ] && [ -n "$admin" ] || fail "no URL=/TOKEN= lines within 10 s: $(cat "$work/err")"
if grep -q "loosened policy" "$work/err"; then fail "started with a loosened policy: $(cat "$work/err")"; fi

curl_() { curl -sS --max-time 10 "$@"; }
status="$(curl_ -o /dev/null -w '%{http_code}' --path-as-is "$url/x/../health")"
[ "$status" = 400 ] || fail "a dot-segment path got $status, not 400 (normalise-dot-segments is on)"
echo "ok: dot segments are refused"

created="$(curl_ -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  -d '{"name":"ci-scoped","scope":{"server_id":"0123456789abcdef0123456789abcdef"}}' "$url/tokens")"
scoped="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' <<<"$created")" \
  || fail "POST /tokens: $created"
status="$(curl_ -o "$work/rpc" -w '%{http_code}' -H "Authorization: Bearer $scoped" \
  -H 'Content-Type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"ping"}' "$url/rpc")"
[ "$status" = 200 ] || fail "/rpc with a server-scoped token got $status: $(cat "$work/rpc") (rpc-not-general-endpoint is on)"
echo "ok: /rpc is a general endpoint"
echo "check-release-reference: the release binary ignores MCPGW_INJECT_DEFECT and has no --inject-defect"

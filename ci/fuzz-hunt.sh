#!/usr/bin/env bash
# The hunt (README, "Fuzz your gateway"): each defect of the reference's matrix switched on in
# turn, a fuzz campaign told nothing about where to look, and the first case that broke an
# invariant. Session defects run on the stateful reference, cluster defects on a 2-worker
# cluster (Redis and Postgres as docs/cluster.md says), and the defects only a sequence of
# requests shows as a campaign of sequences (`--sequences`) on the stateful reference. Prints
# `defect | target | first failure`.
#
#   ci/fuzz-hunt.sh [CASES [SEED]]        (default 20000 cases, seed 1; release build)
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-20000}"; seed="${2:-1}"
cargo build -q --release -p mcpgw-conformance
bin=./target/release/mcpgw-conformance
# The defects of reference/src/defects.rs that README's hunt table lists (those it names as not
# hunted are caught by scenarios), with the target each one needs.
stateful="delete-keeps-session rpc-ignores-session session-shared-across-endpoints session-owner-unchecked
  server-mcp-stream-unchecked session-id-from-client"
cluster="forwarded-no-server-id unsigned-hop-trusted dead-owner-not-taken-over"
sequences="upstream-session-shared event-replay-across-sessions"
plain="rpc-not-general-endpoint hex-only-server-regex prefix-general-endpoints global-mcp-unscoped
  scope-before-name-resolution trust-xff-from-anyone well-known-any-third-segment
  normalise-dot-segments empty-bearer-bare-challenge jsonrpc-error-code-zero server-lists-every-item
  cross-server-call origin-unchecked id-retyped refusal-suggests-every-tool deep-json-fails
  revocation-unchecked duplicate-method-first-checked protocol-version-compared-as-text
  forwarded-header-believed query-token-accepted batch-checked-by-first-call server-segments-folded
  structured-content-stripped content-flattened upstream-error-code-replaced meta-not-forwarded
  upstream-session-id-leaked dead-upstream-hangs tools-keyed-by-upstream-name absolute-form-unguarded"
hunt() { # DEFECT TARGET-ARGS...
  local d="$1"; shift
  local first
  first=$("$bin" fuzz --quiet --no-write --cases "$cases" --seed "$seed" --inject-defect "$d" "$@" 2>&1 \
    | grep -m1 -E '^(case|sequence) [0-9]+ broke' || true)
  printf '%s | %s | %s\n' "$d" "${*:-in-process}" "${first:-NOT FOUND in $cases cases}"
}
found=0; total=0
for d in $plain; do total=$((total + 1)); line=$(hunt "$d"); echo "$line"; [[ $line == *"NOT FOUND"* ]] || found=$((found + 1)); done
for d in $stateful; do total=$((total + 1)); line=$(hunt "$d" --with stateful); echo "$line"; [[ $line == *"NOT FOUND"* ]] || found=$((found + 1)); done
for d in $sequences; do total=$((total + 1)); line=$(hunt "$d" --sequences --with stateful); echo "$line"; [[ $line == *"NOT FOUND"* ]] || found=$((found + 1)); done
for d in $cluster; do total=$((total + 1)); line=$(hunt "$d" --cluster 2); echo "$line"; [[ $line == *"NOT FOUND"* ]] || found=$((found + 1)); done
echo "found $found of $total"
[ "$found" = "$total" ]

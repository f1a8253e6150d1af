#!/usr/bin/env bash
# Regression gate against mcp-proxy, a gateway that launches its MCP servers as stdio commands:
# its --named-server-config is written from gateways/mcp-proxy.yaml, each server's command being
# `mcpgw-conformance upstream --stdio KEY`; the suite runs with that manifest and
# baselines/mcp-proxy-VERSION.yaml. Flow, arguments and exit codes: static-gate.sh.
#
# Usage: ci/peers/mcp-proxy.sh [--bless] [more `mcpgw-conformance run` arguments...]
# Environment: MCP_PROXY_VERSION (default 0.13.0) and the other knobs of mcp-proxy/run.sh.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/static-gate.sh"

export MCP_PROXY_VERSION="${MCP_PROXY_VERSION:-0.13.0}"
GATE_NAME=mcp-proxy
GATE_MANIFEST=gateways/mcp-proxy.yaml
GATE_BASELINE="${MCPGW_MCP_PROXY_BASELINE:-baselines/mcp-proxy-$MCP_PROXY_VERSION.yaml}"
# The portable scenarios send no `initialize` first; mcp-proxy's stateless mode serves them
# (its stateful mode refuses a request without a session id with 400).
export MCP_PROXY_STATELESS=1

gate_config() {
  python3 - "$1" "$2" "$GATE_BIN" "$PWD/$GATE_MANIFEST" <<'PY'
import json, sys, os
m = json.load(open(sys.argv[1]))
world = m["provisioning"]["static"]
exe, manifest = sys.argv[3], sys.argv[4]
servers = {}
for key, s in world["servers"].items():
    servers[s.get("name") or key] = {
        "command": exe,
        "args": ["upstream", "--stdio", s["upstream"], "--target-file", manifest],
        # mcp-proxy hands its children only these variables (and a few safe defaults).
        "env": {"MCPGW_RECORD_DIR": os.environ["MCPGW_RECORD_DIR"]},
    }
json.dump({"mcpServers": servers}, open(sys.argv[2], "w"), indent=2)
PY
}

gate_start() {
  export MCP_PROXY_STATE="$GATE_WORK/mcp-proxy-state"
  GATE_LOG="$MCP_PROXY_STATE/gw.log"
  "$HERE/mcp-proxy/run.sh" "$1" "$2"
}

gate_stop() {
  "$HERE/mcp-proxy/stop.sh" "$1"
}

static_gate "$@"

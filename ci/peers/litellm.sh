#!/usr/bin/env bash
# Regression gate against LiteLLM's proxy as an MCP gateway configured from a file: its
# `mcp_servers:` are written from gateways/litellm.yaml, pointing at the harness's upstream
# fixtures on loopback; the suite runs with that manifest and baselines/litellm-VERSION.yaml.
# Flow, arguments and exit codes: static-gate.sh beside this script.
#
# Usage: ci/peers/litellm.sh [--bless] [more `mcpgw-conformance run` arguments...]
# Environment: LITELLM_VERSION (default 1.108.7) and the other knobs of litellm/run.sh.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/static-gate.sh"

export LITELLM_VERSION="${LITELLM_VERSION:-1.108.7}"
GATE_NAME=litellm
GATE_MANIFEST=gateways/litellm.yaml
GATE_BASELINE="${MCPGW_LITELLM_BASELINE:-baselines/litellm-$LITELLM_VERSION.yaml}"
# 100 calls at once (fidelity's colliding-ids) are worked through one by one: the last ones
# took over 15 s (the default --timeout) beside another job, so each request gets 60 s.
GATE_FIDELITY_ARGS=(--timeout 60)
# The one principal the manifest declares; fresh every run.
export LITELLM_MASTER_KEY="sk-mcpgw-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
# LiteLLM pages MCP lists itself and signs its cursors with this key; without it every
# tools/list, resources/list and prompts/list is -32602 "Set the same LITELLM_SALT_KEY on every
# replica to enable pagination" (1.108.7). A deployment that lists sets it, so the gate does.
export LITELLM_SALT_KEY="sk-salt-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"

gate_config() {
  # JSON is YAML, so the config is written as JSON.
  python3 - "$1" "$2" <<'PY'
import json, sys, os
m = json.load(open(sys.argv[1]))
world = m["provisioning"]["static"]
servers = {}
for key, s in world["servers"].items():
    up = world["upstreams"][s["upstream"]]
    servers[s.get("name") or key] = {
        "url": f"http://127.0.0.1:{up['port']}/mcp",
        "transport": "http",
        "description": f"mcpgw-conformance upstream fixture {s['upstream']}",
    }
config = {
    "mcp_servers": servers,
    "model_list": [],
    "general_settings": {"master_key": os.environ["LITELLM_MASTER_KEY"]},
    "litellm_settings": {"telemetry": False},
}
json.dump(config, open(sys.argv[2], "w"), indent=2)
PY
}

gate_start() {
  export LITELLM_STATE="$GATE_WORK/litellm-state"
  GATE_LOG="$LITELLM_STATE/gw.log"
  "$HERE/litellm/run.sh" "$1" "$2"
}

gate_stop() {
  "$HERE/litellm/stop.sh" "$1"
}

static_gate "$@"

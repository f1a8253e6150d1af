#!/usr/bin/env bash
# Interop with a client nobody here wrote: the official Python MCP SDK (PyPI `mcp`, pinned in
# requirements.txt) drives the reference gateway binary over loopback, initialize -> tools/list
# -> tools/call on /servers/{id}/mcp, in stateless and stateful mode and in both response modes
# (4 runs). Exits non-zero on any failure.
#
# Usage: ci/interop/python_sdk.sh
#   PYTHON               interpreter for the venv (default python3; the SDK needs >= 3.10)
#   INTEROP_VENV         where the venv lives (default target/interop-venv; reused while
#                        requirements.txt is unchanged)
#   MCPGW_REFERENCE_BIN  the gateway binary (default: cargo build, then target/debug/mcpgw-reference)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
python=${PYTHON:-python3}
venv=${INTEROP_VENV:-$root/target/interop-venv}

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "python_sdk.sh: $python is older than 3.10, which the MCP SDK needs" >&2
    exit 2
fi
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$here/requirements.txt" "$venv/.requirements"; then
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$venv/.requirements"
fi

bin=${MCPGW_REFERENCE_BIN:-}
if [ -z "$bin" ]; then
    (cd "$root" && cargo build --quiet -p mcpgw-reference --bin mcpgw-reference)
    bin="$root/target/debug/mcpgw-reference"
fi

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Wait until FILE has a line starting with PREFIX; print the rest of that line.
wait_for_line() {
    local file=$1 prefix=$2 pid=$3
    for _ in $(seq 1 300); do
        local line
        line=$(grep -m1 "^$prefix" "$file" 2>/dev/null || true)
        if [ -n "$line" ]; then
            printf '%s\n' "${line#"$prefix"}"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "python_sdk.sh: no '$prefix' line from pid $pid; its output:" >&2
    cat "$file" "$file.err" >&2 2>/dev/null || true
    return 1
}

"$venv/bin/python" "$here/echo_server.py" >"$work/echo" 2>"$work/echo.err" &
echo_pid=$!
pids+=("$echo_pid")
echo_port=$(wait_for_line "$work/echo" "" "$echo_pid")
echo_url="http://127.0.0.1:$echo_port"

failures=0
for stateful in false true; do
    for json_response in true false; do
        out="$work/gateway-$stateful-$json_response"
        # A clean environment: only the settings this run means to give the gateway.
        env -i PATH="$PATH" HOME="${HOME:-/tmp}" RUST_LOG=warn \
            HOST=127.0.0.1 PORT=0 \
            USE_STATEFUL_SESSIONS="$stateful" JSON_RESPONSE_ENABLED="$json_response" \
            "$bin" >"$out" 2>"$out.err" &
        gw_pid=$!
        pids+=("$gw_pid")
        url=$(wait_for_line "$out" "URL=" "$gw_pid")
        token=$(wait_for_line "$out" "TOKEN=" "$gw_pid")
        if ! "$venv/bin/python" "$here/python_client.py" --url "$url" --token "$token" \
            --echo "$echo_url" --stateful "$stateful" --json-response "$json_response"; then
            failures=$((failures + 1))
            echo "--- gateway log (stateful=$stateful json_response=$json_response) ---" >&2
            cat "$out.err" >&2 || true
        fi
        kill "$gw_pid" 2>/dev/null || true
        wait "$gw_pid" 2>/dev/null || true
    done
done

if [ "$failures" -ne 0 ]; then
    echo "python_sdk.sh: $failures of 4 interop runs failed" >&2
    exit 1
fi
echo "python_sdk.sh: 4 of 4 interop runs passed"

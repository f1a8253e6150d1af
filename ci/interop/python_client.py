"""One interop run: the official Python MCP SDK against a running reference gateway.

Provisions a REST tool (pointing at the echo upstream) and a virtual server through the admin
API, then, as an MCP client on /servers/{id}/mcp: initialize -> tools/list -> tools/call. Checks
what the transport did on the wire for the gateway's mode (session issued or not, DELETE at the
end, JSON or SSE answers). Exits non-zero with a message on the first thing that is wrong.

Usage: python_client.py --url URL --token TOKEN --echo ECHO_URL --stateful true|false
                        --json-response true|false
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.request
from typing import Any

import httpx2
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

GREETING = "hello from the python sdk"


class InteropFailure(Exception):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise InteropFailure(what)


def admin(url: str, token: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST a JSON body to the admin API; (status, parsed body)."""
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def provision(url: str, token: str, echo: str) -> tuple[str, str]:
    """Create the echo tool and a server holding it; (server id, tool name)."""
    status, tool = admin(url, token, "/tools", {"tool": {
        "name": "echo",
        "integration_type": "REST",
        "request_type": "POST",
        "url": f"{echo}/echo",
        "description": "Answers with its arguments",
        "input_schema": {"type": "object", "properties": {"text": {"type": "string"}},
                         "required": ["text"]},
    }})
    check(status == 200, f"create tool: {status} {tool}")
    status, server = admin(url, token, "/servers", {"server": {
        "name": "python-interop", "associated_tools": [tool["id"]],
    }})
    check(status == 201, f"create server: {status} {server}")
    return server["id"], tool["name"]


async def run(url: str, token: str, server_id: str, tool: str, stateful: bool,
              json_response: bool) -> None:
    wire: list[tuple[str, int, str | None, str]] = []

    async def record(response: httpx2.Response) -> None:
        wire.append((response.request.method, response.status_code,
                     response.headers.get("mcp-session-id"),
                     response.headers.get("content-type", "")))

    endpoint = f"{url}/servers/{server_id}/mcp"
    http = httpx2.AsyncClient(
        headers={"authorization": f"Bearer {token}"},
        timeout=httpx2.Timeout(30, read=300),
        event_hooks={"response": [record]},
    )
    async with http:
        async with streamable_http_client(endpoint, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                check(init.server_info.name == "mcpgw-reference", f"serverInfo: {init.server_info}")
                tools = await session.list_tools()
                names = [t.name for t in tools.tools]
                check(names == [tool], f"tools/list: {names}, want [{tool}]")
                result = await session.call_tool(tool, {"text": GREETING})
                check(not result.is_error, f"tools/call is an error: {result}")
                text = "".join(getattr(c, "text", "") for c in result.content)
                check(GREETING in text, f"tools/call did not echo: {text!r}")

    posts = [w for w in wire if w[0] == "POST"]
    answered = [w for w in posts if w[1] == 200]
    check(len(answered) >= 3, f"expected 3 answered POSTs, wire: {wire}")
    want_type = "application/json" if json_response else "text/event-stream"
    check(all(w[3].startswith(want_type) for w in answered), f"answers not {want_type}: {wire}")
    sessions = {w[2] for w in wire if w[2]}
    if stateful:
        check(len(sessions) == 1, f"expected one session id, wire: {wire}")
        deletes = [w for w in wire if w[0] == "DELETE"]
        check([w[1] for w in deletes] == [200], f"expected one DELETE answered 200, wire: {wire}")
        streams = [w for w in wire if w[0] == "GET"]
        check(all(w[1] == 200 and w[3].startswith("text/event-stream") for w in streams),
              f"a session stream was refused: {wire}")
    else:
        check(not sessions, f"a stateless gateway issued a session: {wire}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--echo", required=True)
    parser.add_argument("--stateful", choices=["true", "false"], required=True)
    parser.add_argument("--json-response", choices=["true", "false"], required=True)
    args = parser.parse_args()
    mode = f"stateful={args.stateful} json_response={args.json_response}"
    try:
        server_id, tool = provision(args.url, args.token, args.echo)
        asyncio.run(run(args.url, args.token, server_id, tool, args.stateful == "true",
                        args.json_response == "true"))
    except InteropFailure as e:
        print(f"FAIL [{mode}]: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # an SDK error is an interop failure too; say what it was
        print(f"FAIL [{mode}]: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"ok   [{mode}]: initialize, tools/list, tools/call")
    return 0


if __name__ == "__main__":
    sys.exit(main())

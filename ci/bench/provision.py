#!/usr/bin/env python3
"""Provision the benchmark fixture on a gateway through its admin API (ContextForge's shapes, so
the same code serves the reference and ContextForge): three REST tools, a virtual server holding
them, and a server-scoped API token with tools.read. Prints `SERVER_ID TOKEN`.

usage: provision.py BASE_URL ADMIN_TOKEN
"""
import json
import sys
import urllib.request
import uuid


def call(base, token, method, path, body):
    req = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def main():
    base, admin = sys.argv[1].rstrip("/"), sys.argv[2]
    run = uuid.uuid4().hex[:8]
    tool_ids = []
    for i in range(3):
        tool = {
            "name": f"bench-{run}-t{i}",
            "integration_type": "REST",
            "request_type": "POST",
            "url": "http://127.0.0.1:9/unused",
            "input_schema": {"type": "object", "properties": {}},
        }
        tool_ids.append(call(base, admin, "POST", "/tools", {"tool": tool})["id"])
    server = {"name": f"bench-{run}", "associated_tools": tool_ids}
    sid = call(base, admin, "POST", "/servers", {"server": server, "visibility": "public"})["id"]
    tok = call(base, admin, "POST", "/tokens", {
        "name": f"bench-{run}", "expires_in_days": 1,
        "scope": {"server_id": sid, "permissions": ["tools.read"]},
    })["access_token"]
    print(sid, tok)


if __name__ == "__main__":
    main()

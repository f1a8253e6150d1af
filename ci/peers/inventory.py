#!/usr/bin/env python3
"""Count what a ContextForge-shaped gateway holds, through its admin API.

Usage: inventory.py URL TOKEN [--out FILE] [--compare BEFORE.json]

Prints one line per collection (servers, tools, gateways, resources, prompts, teams, users,
tokens) with the entries' names. With --compare, exits 1 when anything active is present now
that was not present before (fixtures a run left behind); inactive users are listed apart,
because ContextForge 1.1.0 cannot delete a user who was ever in a team (it is deactivated).
Standard library only, so it runs wherever the gateway's Python does.
"""
import argparse
import json
import sys
import urllib.request

COLLECTIONS = [
    ("servers", "/servers?include_inactive=true", None),
    ("tools", "/tools?include_inactive=true", None),
    ("gateways", "/gateways?include_inactive=true", None),
    ("resources", "/resources?include_inactive=true", None),
    ("prompts", "/prompts?include_inactive=true", None),
    ("teams", "/teams/", "teams"),
    ("users", "/auth/email/admin/users", "users"),
    ("tokens", "/tokens/admin/all", "tokens"),  # every user's active tokens
]


def fetch(url, token, path, key):
    req = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=20) as resp:
        value = json.load(resp)
    if isinstance(value, dict):
        value = value.get(key or "items", value.get("items", []))
    return value if isinstance(value, list) else []


def label(entry):
    name = entry.get("email") or entry.get("name") or entry.get("id") or "?"
    return name if entry.get("is_active", entry.get("enabled", True)) else f"{name} (inactive)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("token")
    ap.add_argument("--out")
    ap.add_argument("--compare")
    args = ap.parse_args()
    now = {name: sorted(label(e) for e in fetch(args.url, args.token, path, key)) for name, path, key in COLLECTIONS}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(now, f, indent=1)
    before = {}
    if args.compare:
        with open(args.compare) as f:
            before = json.load(f)
    left, inactive = [], []
    for name, entries in now.items():
        new = [e for e in entries if e not in before.get(name, [])]
        print(f"{name:<10} {len(entries):>3}  {', '.join(entries)[:300]}")
        left += [f"{name}: {e}" for e in new if not e.endswith("(inactive)")]
        inactive += [f"{name}: {e}" for e in new if e.endswith("(inactive)")]
    if args.compare:
        for e in inactive:
            print(f"left inactive (the gateway refused deletion): {e}")
        for e in left:
            print(f"LEFT BEHIND: {e}")
        print(f"inventory: {len(left)} fixture(s) left behind, {len(inactive)} left inactive")
        return 1 if left else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

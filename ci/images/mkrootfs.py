#!/usr/bin/env python3
"""Build a minimal container rootfs tarball from binaries already installed on this host.

Used by build.sh to make Redis and Postgres images for a Docker engine that cannot pull from a
registry. Every file is written with explicit ownership, so no root privileges are needed and
the service can run as a non-root user (Postgres' initdb refuses root).

usage: mkrootfs.py OUT.tar [--bin PATH]... [--tree PATH]... [--file SRC:DST[:MODE]]...
                   [--dir PATH:MODE:UID] [--passwd NAME:UID]
"""
import argparse
import os
import re
import subprocess
import sys
import tarfile
import io


def ldd_deps(path):
    """Shared libraries `path` loads, as absolute host paths (the loader included)."""
    out = subprocess.run(["ldd", path], capture_output=True, text=True)
    if out.returncode != 0:
        return []  # static binary or not an ELF file
    deps = []
    for line in out.stdout.splitlines():
        m = re.search(r"=>\s+(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
        if m:
            deps.append(m.group(1))
    return deps


class Rootfs:
    def __init__(self, out):
        self.tar = tarfile.open(out, "w")
        self.seen = set()

    def _parents(self, dst):
        parts = dst.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            self.dir("/" + "/".join(parts[:i]), 0o755, 0)

    def dir(self, dst, mode, uid):
        dst = "/" + dst.strip("/")
        if dst in self.seen or dst == "/":
            return
        self._parents(dst)
        self.seen.add(dst)
        info = tarfile.TarInfo(dst.lstrip("/"))
        info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, mode, uid, uid
        self.tar.addfile(info)

    def file(self, src, dst=None, mode=None, uid=0):
        dst = "/" + (dst or src).strip("/")
        if dst in self.seen:
            return
        self._parents(dst)
        self.seen.add(dst)
        if os.path.islink(src):
            info = tarfile.TarInfo(dst.lstrip("/"))
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(src)
            self.tar.addfile(info)
            # Add the target at the path the link names (not its host realpath), so the link
            # resolves inside the image even where the host merges /lib into /usr/lib.
            target = os.path.normpath(os.path.join(os.path.dirname(dst), os.readlink(src)))
            self.file(target, None, None, uid)
            return
        st = os.stat(src)
        info = tarfile.TarInfo(dst.lstrip("/"))
        info.size, info.mode = st.st_size, mode if mode is not None else st.st_mode & 0o7777
        info.uid = info.gid = uid
        with open(src, "rb") as f:
            self.tar.addfile(info, f)

    def text(self, dst, content, mode=0o644):
        dst = "/" + dst.strip("/")
        self._parents(dst)
        self.seen.add(dst)
        data = content.encode()
        info = tarfile.TarInfo(dst.lstrip("/"))
        info.size, info.mode = len(data), mode
        self.tar.addfile(info, io.BytesIO(data))

    def binary(self, path):
        self.file(path)
        for dep in ldd_deps(path):
            self.file(dep)

    def tree(self, root):
        for dirpath, dirnames, filenames in os.walk(root):
            self.dir(dirpath, 0o755, 0)
            for name in filenames:
                path = os.path.join(dirpath, name)
                if os.path.isfile(path) and os.access(path, os.X_OK) and not os.path.islink(path):
                    self.binary(path)
                else:
                    self.file(path)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--bin", action="append", default=[])
    p.add_argument("--tree", action="append", default=[])
    p.add_argument("--file", action="append", default=[])
    p.add_argument("--dir", action="append", default=[])
    p.add_argument("--passwd", action="append", default=[])
    a = p.parse_args()
    fs = Rootfs(a.out)
    fs.dir("/tmp", 0o1777, 0)
    users = ["root:x:0:0:root:/root:/bin/sh"] + [
        f"{n}:x:{u}:{u}:{n}:/tmp:/bin/sh" for n, u in (x.split(":") for x in a.passwd)
    ]
    fs.text("/etc/passwd", "\n".join(users) + "\n")
    fs.text("/etc/group", "\n".join(u.split(":")[0] + ":x:" + u.split(":")[2] + ":" for u in users) + "\n")
    for spec in a.dir:
        path, mode, uid = spec.split(":")
        fs.dir(path, int(mode, 8), int(uid))
    for b in a.bin:
        fs.binary(b)
    for t in a.tree:
        fs.tree(t)
    for spec in a.file:
        parts = spec.split(":")
        fs.file(parts[0], parts[1] if len(parts) > 1 else None, int(parts[2], 8) if len(parts) > 2 else None)
    fs.tar.close()
    print(f"wrote {a.out} ({os.path.getsize(a.out) // 1024} KiB)", file=sys.stderr)


if __name__ == "__main__":
    main()

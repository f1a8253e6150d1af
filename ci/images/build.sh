#!/usr/bin/env bash
# Build local Redis and Postgres images from this host's Debian packages and tag them with the
# names testcontainers-modules 0.15 asks for (redis:5.0, postgres:11-alpine), for Docker engines
# that cannot pull from a registry. testcontainers pulls only when an image is missing, so these
# satisfy it. Idempotent: an image built by this script is kept unless FORCE=1.
set -euo pipefail
cd "$(dirname "$0")"
log() { echo "[ci/images] $*" >&2; }
need_pkg() {
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
    log "installing $2 from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null
  fi
}
have_image() { [ "${FORCE:-0}" != 1 ] && docker image inspect "$1" --format '{{index .Config.Labels "mcpgw.local-image"}}' 2>/dev/null | grep -q 1; }

docker info >/dev/null 2>&1 || { log "ERROR: no Docker engine answers"; exit 1; }
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

if have_image redis:5.0; then log "redis:5.0 already built"; else
  need_pkg redis-server redis-server
  python3 mkrootfs.py "$work/redis.tar" --bin /usr/bin/redis-server --dir /data:0777:0
  docker import \
    --change 'LABEL mcpgw.local-image=1' --change 'WORKDIR /data' --change 'EXPOSE 6379' \
    --change 'ENTRYPOINT ["/usr/bin/redis-server"]' \
    --change 'CMD ["--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"]' \
    "$work/redis.tar" redis:5.0 >/dev/null
  log "built redis:5.0 ($(du -h "$work/redis.tar" | cut -f1))"
fi

if have_image postgres:11-alpine; then log "postgres:11-alpine already built"; else
  need_pkg /usr/lib/postgresql/15/bin/postgres postgresql-15
  python3 mkrootfs.py "$work/postgres.tar" --passwd postgres:999 \
    --bin /bin/sh --tree /usr/lib/postgresql/15 --tree /usr/share/postgresql/15 \
    --file /usr/share/zoneinfo/UTC --file /usr/share/zoneinfo/Etc/UTC \
    --file postgres-entrypoint.sh:/docker-entrypoint.sh:755 \
    --dir /var/lib/postgresql:0700:999
  docker import \
    --change 'LABEL mcpgw.local-image=1' --change 'USER 999' --change 'EXPOSE 5432' \
    --change 'ENV PGDATA=/var/lib/postgresql/data TZ=UTC' \
    --change 'ENTRYPOINT ["/docker-entrypoint.sh"]' \
    "$work/postgres.tar" postgres:11-alpine >/dev/null
  log "built postgres:11-alpine ($(du -h "$work/postgres.tar" | cut -f1))"
fi

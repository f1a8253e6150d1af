#!/bin/sh
# Entrypoint of the locally built postgres image: the subset of the official image's contract
# that testcontainers' Postgres module relies on (POSTGRES_USER/PASSWORD/DB, extra server
# arguments, and the "ready" line on stdout and stderr). Test use only: trust authentication.
set -e
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
BIN=/usr/lib/postgresql/15/bin
USER_NAME="${POSTGRES_USER:-postgres}"
DB_NAME="${POSTGRES_DB:-$USER_NAME}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "${POSTGRES_PASSWORD:-postgres}" > /tmp/pwfile
  "$BIN/initdb" -D "$PGDATA" -U "$USER_NAME" --pwfile=/tmp/pwfile -E UTF8 --locale=C --auth=trust >/dev/null
  echo "host all all all trust" >> "$PGDATA/pg_hba.conf"
  if [ "$DB_NAME" != "postgres" ]; then
    echo "CREATE DATABASE \"$DB_NAME\";" | "$BIN/postgres" --single -D "$PGDATA" postgres >/dev/null
  fi
fi
# The official image's init phase prints this on stdout before the real server starts.
echo "database system is ready to accept connections"
exec "$BIN/postgres" -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp "$@"

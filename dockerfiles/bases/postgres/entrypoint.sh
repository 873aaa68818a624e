#!/usr/bin/env bash
# First start: initdb into $PGDATA with POSTGRES_USER / POSTGRES_PASSWORD, create POSTGRES_DB,
# then run the server in the foreground (exec, so signals reach postgres). Later starts reuse PGDATA.
set -euo pipefail

POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
PGDATA="${PGDATA:-/var/lib/postgresql/data}"
export PGDATA

fail() { echo "postgres-entrypoint: $*" >&2; exit 1; }

if [ "${1:-postgres}" != "postgres" ]; then
  exec "$@"
fi

if [ "$(id -u)" = "0" ]; then
  fail "refusing to run as root; run as UID 999 (the image's default user) or set securityContext.runAsUser: 999"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != "trust" ]; then
    fail "POSTGRES_PASSWORD is not set; set it (from a Secret) or set POSTGRES_HOST_AUTH_METHOD=trust for throwaway use"
  fi
  mkdir -p "$PGDATA" 2>/dev/null || fail "cannot create PGDATA=$PGDATA as UID $(id -u); when a volume is mounted there, set PGDATA to a subfolder (e.g. $PGDATA/pgdata) and fsGroup 999"
  chmod 0700 "$PGDATA" 2>/dev/null || fail "PGDATA=$PGDATA is not owned by UID $(id -u); use a subfolder of the volume as PGDATA (e.g. $PGDATA/pgdata)"
  pwfile="$(mktemp)"
  printf '%s\n' "${POSTGRES_PASSWORD:-}" > "$pwfile"
  auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust --auth-host="$auth" \
    --encoding=UTF8 --locale=C.UTF-8 --no-instructions >/dev/null
  rm -f "$pwfile"
  {
    echo "host all all 0.0.0.0/0 $auth"
    echo "host all all ::/0 $auth"
  } >> "$PGDATA/pg_hba.conf"
  # A private server on the unix socket only, to create the database before anyone can connect.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql" -w -t 60 start >/dev/null
  if [ "$POSTGRES_DB" != "postgres" ]; then
    createdb -h /var/run/postgresql -U "$POSTGRES_USER" -- "$POSTGRES_DB" || fail "could not create database $POSTGRES_DB"
  fi
  pg_ctl -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
  echo "postgres-entrypoint: initialised $PGDATA (user $POSTGRES_USER, database $POSTGRES_DB)"
fi

exec postgres -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql "${@:2}"

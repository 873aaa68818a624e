#!/usr/bin/env bash
# Make sure PostgreSQL server binaries (initdb, pg_ctl, postgres) are present.
# Installs Debian's `postgresql` package when missing; prints the bin directory on stdout.
# The package's own cluster is not needed: tests start throwaway clusters with initdb.
# Usage: scripts/ensure-postgres.sh   ->  /usr/lib/postgresql/15/bin
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

find_bindir() {
  local d
  # Newest major version first.
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

if ! bindir="$(find_bindir)"; then
  "$here/apt-ensure.sh" postgresql postgresql-contrib >&2
  bindir="$(find_bindir)" || {
    echo "ensure-postgres: postgresql installed but initdb/pg_ctl not found under /usr/lib/postgresql/*/bin" >&2
    exit 1
  }
fi
echo "$bindir"

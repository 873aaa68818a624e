#!/usr/bin/env bash
# Install Debian packages that are missing; a no-op when all are present.
# Usage: scripts/apt-ensure.sh pkg [pkg...]
set -euo pipefail
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "apt-ensure: missing Debian packages: ${missing[*]}; install them as root (sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "apt-ensure: installing ${missing[*]}" >&2
# One lock for concurrent callers (Makefile targets, test fixtures).
exec 9>/tmp/todo-runbook-apt.lock
flock 9
stamp=/var/lib/apt/periodic/todo-runbook-update-stamp
if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +360 2>/dev/null)" ]; then
  apt-get update -qq
  mkdir -p "$(dirname "$stamp")" && touch "$stamp"
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2

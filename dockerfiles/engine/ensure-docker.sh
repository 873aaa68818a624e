#!/usr/bin/env bash
# Find a Docker engine that answers; on this project's machines start one when none does.
# Never touches an engine that already answers. Prints one line saying what it chose and why.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
log="${TODO_RUNBOOK_CACHE:-$HOME/.cache/todo-runbook}/dockerd.log"

if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "docker engine: using the one that answers at ${DOCKER_HOST:-unix:///var/run/docker.sock} (server $(docker version --format '{{.Server.Version}}'))"
  exit 0
fi
if [ -n "${DOCKER_HOST:-}" ]; then
  echo "docker engine: DOCKER_HOST=$DOCKER_HOST does not answer; start that engine or unset DOCKER_HOST" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "docker engine: none answers and starting one needs root; start Docker (Docker Desktop, 'sudo systemctl start docker') and retry" >&2
  exit 1
fi
"$here/../../scripts/apt-ensure.sh" docker.io iptables
mkdir -p "$(dirname "$log")"
echo "docker engine: none answered; starting Debian's dockerd in the background (log: $log)" >&2
# setsid: the engine outlives the shell that started it (Make, a test session).
setsid nohup dockerd --host unix:///var/run/docker.sock >"$log" 2>&1 < /dev/null &
for _ in $(seq 1 60); do
  if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    echo "docker engine: started dockerd $(docker version --format '{{.Server.Version}}') on unix:///var/run/docker.sock"
    exit 0
  fi
  sleep 1
done
echo "docker engine: dockerd did not answer within 60 s; see $log" >&2
tail -n 20 "$log" >&2 || true
exit 1

#!/usr/bin/env bash
# Find a Docker engine that answers; on this project's machines start one when none does.
# Never touches an engine that already answers. Prints one line on stdout saying what it chose
# (exit 0), or a reason and the fix on stderr (exit 1). Progress notes go to stderr.
#
# Order: DOCKER_HOST if set (never replaced); else the docker CLI's current context (Docker Desktop,
# rootless, colima ...); else the default socket. Only when none answers, and only as root, it installs
# Debian's docker.io (scripts/apt-ensure.sh) and starts dockerd in the background.
# Knobs: TODO_RUNBOOK_DOCKER_WAIT (seconds to wait for a starting engine, default 90).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${TODO_RUNBOOK_CACHE:-$HOME/.cache/todo-runbook}"
log="$cache/dockerd.log"
default_socket=/var/run/docker.sock
pidfile=/var/run/docker.pid
wait_s="${TODO_RUNBOOK_DOCKER_WAIT:-90}"

server_version() {  # prints the server version when the engine at $1 (or the CLI's choice) answers
  local -a host=()
  [ -n "${1:-}" ] && host=(--host "$1")
  command -v docker >/dev/null 2>&1 || return 1
  timeout 20 docker "${host[@]}" version --format '{{.Server.Version}}' 2>/dev/null
}

context_endpoint() {  # the docker endpoint of the CLI's current context (may differ from the default socket)
  command -v docker >/dev/null 2>&1 || return 0
  timeout 10 docker context inspect --format '{{.Endpoints.docker.Host}}' 2>/dev/null || true
}

# 1. DOCKER_HOST is the user's explicit choice: use it or explain, never start another engine.
if [ -n "${DOCKER_HOST:-}" ]; then
  if v="$(server_version "$DOCKER_HOST")"; then
    echo "docker engine: using DOCKER_HOST=$DOCKER_HOST (server $v)"
    exit 0
  fi
  echo "docker engine: DOCKER_HOST=$DOCKER_HOST does not answer; start that engine or unset DOCKER_HOST" >&2
  exit 1
fi

# 2. Whatever the CLI talks to (its context). The Docker SDK reads only DOCKER_HOST, so when the
#    context is not the default socket the line says what to export.
endpoint="$(context_endpoint)"
if v="$(server_version "")"; then
  if [ -n "$endpoint" ] && [ "$endpoint" != "unix://$default_socket" ]; then
    echo "docker engine: using the docker CLI context endpoint $endpoint (server $v); export DOCKER_HOST=$endpoint for the Docker SDK"
  else
    echo "docker engine: using the one that answers at unix://$default_socket (server $v)"
  fi
  exit 0
fi

# 3. An engine that is starting (its pid is alive) gets time to answer; never start a second one.
wait_for_engine() {  # $1: pid to watch (optional)
  local deadline=$((SECONDS + wait_s))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if v="$(server_version "unix://$default_socket")"; then
      echo "$v"
      return 0
    fi
    if [ -n "${1:-}" ] && ! kill -0 "$1" 2>/dev/null; then
      return 2
    fi
    sleep 1
  done
  return 1
}
if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  running_pid="$(cat "$pidfile")"
  echo "docker engine: dockerd (pid $running_pid) is running but not answering yet; waiting up to ${wait_s} s" >&2
  if v="$(wait_for_engine "$running_pid")"; then
    echo "docker engine: using the one that answers at unix://$default_socket (server $v, was starting)"
    exit 0
  fi
  echo "docker engine: dockerd (pid $running_pid) does not answer on unix://$default_socket; check its log" \
       "($log if this project started it) or restart it ('kill $running_pid', then run this script again)" >&2
  exit 1
fi

# 4. None answers: start Debian's dockerd (root only).
if [ "$(id -u)" -ne 0 ]; then
  echo "docker engine: none answers and starting one needs root; start Docker (Docker Desktop," \
       "'sudo systemctl start docker', or 'sudo $0') and retry" >&2
  exit 1
fi
"$here/../../scripts/apt-ensure.sh" docker.io iptables
# The package's own service may have started an engine (systemd machines): use it if it answers.
if v="$(server_version "unix://$default_socket")"; then
  echo "docker engine: installed docker.io; its service answers at unix://$default_socket (server $v)"
  exit 0
fi
mkdir -p "$(dirname "$log")"
echo "docker engine: none answered; starting Debian's dockerd in the background (log: $log)" >&2
# setsid: the engine outlives the shell that started it (Make, a test session).
setsid nohup dockerd --host "unix://$default_socket" >"$log" 2>&1 </dev/null &
started_pid=$!
if v="$(wait_for_engine "$started_pid")"; then
  echo "docker engine: started dockerd $v (pid $started_pid) on unix://$default_socket; log: $log"
  exit 0
else
  status=$?
fi
if [ "$status" -eq 2 ]; then
  echo "docker engine: dockerd exited during start-up; its log ($log) ends with:" >&2
else
  echo "docker engine: dockerd did not answer within ${wait_s} s (still running as pid $started_pid); see $log:" >&2
fi
tail -n 20 "$log" >&2 || true
exit 1

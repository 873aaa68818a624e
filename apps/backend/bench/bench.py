"""Measure the backend on one process over loopback: cold start to ready, /health and GET /api/tasks
latency (p50/p95/p99) and throughput with wrk, and RSS memory at idle.

    .venv/bin/python apps/backend/bench/bench.py [--duration 10] [--connections 8] [--json out.json]

Uses DATABASE_URL when set (a database it may write to); otherwise starts a throwaway PostgreSQL
with the test suite's helper. Installs wrk with scripts/apt-ensure.sh when missing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

BACKEND_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = BACKEND_DIR.parents[1]
LUA = Path(__file__).resolve().parent / "report.lua"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def ensure_wrk() -> str:
    if shutil.which("wrk") is None:
        subprocess.run([str(REPO_ROOT / "scripts" / "apt-ensure.sh"), "wrk"], check=True)
    return shutil.which("wrk") or "wrk"


def run_wrk(wrk: str, url: str, duration: int, connections: int, token: str | None) -> dict[str, Any]:
    env = {**os.environ, "BENCH_TOKEN": token or ""}
    command = [wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", str(LUA), url]
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("BENCH_JSON "))
    result = json.loads(line.removeprefix("BENCH_JSON "))
    result["command"] = " ".join(command)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--tasks", type=int, default=20, help="tasks the benchmark user owns")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--server-python",
        default=sys.executable,
        help="interpreter that runs uvicorn, e.g. a venv made from requirements.lock alone (as in the image)",
    )
    args = parser.parse_args()

    pg = None
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        sys.path.insert(0, str(REPO_ROOT))
        from tests.support.postgres import start_postgres

        pg = start_postgres()
        database_url = pg.create_database("bench")
    wrk = ensure_wrk()
    port = free_port()
    log_path = Path(tempfile.mkdtemp(prefix="bench-backend-")) / "backend.log"
    env = {**os.environ, "DATABASE_URL": database_url, "JWT_SECRET": secrets.token_hex(32), "LOG_LEVEL": "INFO"}
    env.pop("OPENAI_API_KEY", None)
    command = [args.server_python, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=BACKEND_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        first_health = None
        while True:
            if server.poll() is not None:
                raise SystemExit(f"backend exited with {server.returncode}; log: {log_path}")
            try:
                if first_health is None and httpx.get(base + "/health", timeout=1).status_code == 200:
                    first_health = time.perf_counter() - started
                if httpx.get(base + "/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        ready = time.perf_counter() - started

        with httpx.Client(base_url=base, timeout=30) as http:
            auth = http.post(
                "/api/auth/signup",
                json={"email": f"bench-{secrets.token_hex(4)}@example.com", "password": secrets.token_hex(12)},
            ).json()
            token = auth["access_token"]
            for i in range(args.tasks):
                http.post("/api/tasks", json={"title": f"task {i}"}, headers={"Authorization": f"Bearer {token}"})
        time.sleep(3)
        idle_rss = rss_kib(server.pid)

        health = run_wrk(wrk, base + "/health", args.duration, args.connections, None)
        tasks = run_wrk(wrk, base + "/api/tasks", args.duration, args.connections, token)
        time.sleep(3)
        idle_rss_after = rss_kib(server.pid)
        figures = {
            "machine": {"cpus": os.cpu_count(), "load_avg_1m": os.getloadavg()[0], "python": platform.python_version()},
            "server_python": args.server_python,
            "cold_start": {"to_health_s": round(first_health or ready, 3), "to_ready_s": round(ready, 3)},
            "rss_idle_mib": {"after_start": round(idle_rss / 1024, 1), "after_load": round(idle_rss_after / 1024, 1)},
            "health": health,
            "get_tasks": {**tasks, "tasks_per_response": args.tasks},
            "server_command": " ".join(command),
        }
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        if pg is not None:
            from tests.support.postgres import stop_postgres

            stop_postgres(pg)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

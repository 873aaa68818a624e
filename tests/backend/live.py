"""Run the real backend (``uvicorn app.main:app``) as a process on a loopback port.

Importable by any test area (e.g. the frontend's browser test)::

    from tests.backend.live import start_backend, wait_ready

    backend = start_backend(postgres_url, tmp_path)      # DATABASE_URL from the postgres_url fixture
    try:
        wait_ready(backend.get)                          # migrations applied, database reachable
        ...  # talk to backend.base_url
    finally:
        backend.stop()                                   # SIGTERM, graceful

Needs the backend's dependencies in the running interpreter (``pip install -r apps/backend/requirements.lock``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

BACKEND_DIR = Path(__file__).resolve().parents[2] / "apps" / "backend"
JWT_SECRET = "test-secret-" + "x" * 40
READY_TIMEOUT = 120.0  # the machine is shared with heavy builds; imports alone can take seconds


def wait_ready(get: Callable[[str], httpx.Response], timeout: float = READY_TIMEOUT) -> httpx.Response:
    """Poll /ready through `get` (a TestClient.get or BackendProcess.get) until it answers 200."""
    deadline = time.monotonic() + timeout
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        last = get("/ready")
        if last.status_code == 200:
            return last
        time.sleep(0.05)
    raise AssertionError(f"backend not ready after {timeout}s: {last.text if last else 'no answer'}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class BackendProcess:
    """A real `uvicorn app.main:app` process on a loopback port."""

    port: int
    process: subprocess.Popen[str]
    log_path: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> httpx.Response:
        try:
            return httpx.get(self.base_url + path, timeout=30)
        except httpx.TransportError as exc:
            if self.process.poll() is not None:
                raise AssertionError(f"backend exited with {self.process.returncode}:\n{self.log()}") from exc
            return httpx.Response(599, text=str(exc))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        return self.process.returncode


def start_backend(database_url: str, log_dir: Path, extra_env: dict[str, str] | None = None) -> BackendProcess:
    """Start uvicorn with the local agent (OPENAI_API_KEY removed) and a test JWT secret; returns at once."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY",)},
        "DATABASE_URL": database_url,
        "JWT_SECRET": JWT_SECRET,
        "BCRYPT_ROUNDS": "4",
        "LOG_LEVEL": "INFO",
        **(extra_env or {}),
    }
    log_path = log_dir / f"backend-{port}.log"
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
            cwd=BACKEND_DIR,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return BackendProcess(port=port, process=process, log_path=log_path)

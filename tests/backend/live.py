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
# As the image runs it (dockerfiles/backend.Dockerfile): the h11 parser refuses a request whose header block
# grows past this many bytes before the app sees it (httptools, uvicorn's default, has no such limit).
H11_MAX_HEADER_BLOCK = 32768
# Set to a built backend image: every live backend of the backend tests is that image under `docker run`.
IMAGE_ENV = "TODO_RUNBOOK_BACKEND_IMAGE"
IMAGE_LOG_ENV = "TODO_RUNBOOK_BACKEND_IMAGE_LOG"  # a file: one line per container started, for the outer test
UVICORN_FLAGS = ["--http", "h11", "--h11-max-incomplete-event-size", str(H11_MAX_HEADER_BLOCK)]
# Peers whose X-Forwarded-For uvicorn believes, as the chart sets it (tests/chart/test_rules.py checks they agree):
# loopback and the private ranges where an ingress controller runs, so the client address is the rightmost
# public one in X-Forwarded-For (tests send public test addresses, RFC 5737, from 127.0.0.1 as their proxy).
FORWARDED_ALLOW_IPS = "127.0.0.1,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"


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
        "FORWARDED_ALLOW_IPS": FORWARDED_ALLOW_IPS,
        **(extra_env or {}),
    }
    log_path = log_dir / f"backend-{port}.log"
    image = os.environ.get(IMAGE_ENV, "")
    if image:
        keys = ["DATABASE_URL", "JWT_SECRET", "BCRYPT_ROUNDS", "LOG_LEVEL", "FORWARDED_ALLOW_IPS", *(extra_env or {})]
        command, cwd = image_command(image, port, keys), None
        if os.environ.get(IMAGE_LOG_ENV):
            with open(os.environ[IMAGE_LOG_ENV], "a") as listed:
                listed.write(f"{container_name(port)}\n")
    else:
        command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port),
                   *UVICORN_FLAGS]
        cwd = BACKEND_DIR
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return BackendProcess(port=port, process=process, log_path=log_path)


def container_name(port: int) -> str:
    return f"todo-backend-test-{port}"


def image_command(image: str, port: int, keys: list[str]) -> list[str]:
    """`docker run` of the built image as the chart runs it (read-only root, its own UID, its ENTRYPOINT with the
    h11 flags), on the host network so it reaches the loopback PostgreSQL; `docker run` passes SIGTERM on."""
    flags = [f"--env={key}" for key in keys]  # values from the process environment, never on the command line
    return ["docker", "run", "--rm", "--network=host", "--read-only", "--tmpfs=/tmp",
            f"--name={container_name(port)}", f"--env=UVICORN_PORT={port}", *flags, image,
            "--host", "127.0.0.1"]

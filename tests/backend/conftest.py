"""Backend fixtures: the app in-process (TestClient) or as real uvicorn processes, both against a
fresh database on the session's throwaway PostgreSQL (tests/support/postgres.py)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

BACKEND_DIR = Path(__file__).resolve().parents[2] / "apps" / "backend"
if str(BACKEND_DIR) not in sys.path:
    sys.path.insert(0, str(BACKEND_DIR))

from app.config import Settings, normalize_database_url  # noqa: E402
from app.main import create_app  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

JWT_SECRET = "test-secret-" + "x" * 40
READY_TIMEOUT = 120.0  # the machine is shared with heavy builds; imports alone can take seconds


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": normalize_database_url(database_url),
        "jwt_secret": JWT_SECRET,
        "bcrypt_rounds": 4,  # the cost factor does not change behaviour, only time
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def wait_ready(get: Callable[[str], httpx.Response], timeout: float = READY_TIMEOUT) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        last = get("/ready")
        if last.status_code == 200:
            return last
        time.sleep(0.05)
    raise AssertionError(f"backend not ready after {timeout}s: {last.text if last else 'no answer'}")


@pytest.fixture
def client(postgres_url: str) -> Iterator[TestClient]:
    """The app in-process against a fresh database, migrated and ready."""
    app = create_app(make_settings(postgres_url))
    with TestClient(app) as test_client:
        wait_ready(test_client.get)
        yield test_client


@dataclass
class User:
    email: str
    password: str
    token: str
    id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def sign_up(http: TestClient | httpx.Client, email: str | None = None, password: str = "password-123") -> User:
    email = email or f"user-{secrets.token_hex(4)}@example.com"
    response = http.post("/api/auth/signup", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    body = response.json()
    return User(email=email, password=password, token=body["access_token"], id=body["user"]["id"])


@pytest.fixture
def user(client: TestClient) -> User:
    return sign_up(client)


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


@pytest.fixture
def backend_factory(tmp_path: Path) -> Iterator[Callable[..., BackendProcess]]:
    """Start real uvicorn processes; all are stopped (SIGTERM) at the end of the test."""
    started: list[BackendProcess] = []

    def factory(database_url: str, extra_env: dict[str, str] | None = None) -> BackendProcess:
        backend = start_backend(database_url, tmp_path, extra_env)
        started.append(backend)
        return backend

    yield factory
    for backend in started:
        backend.stop()


@pytest.fixture
def live_backend(postgres_url: str, backend_factory: Callable[..., BackendProcess]) -> BackendProcess:
    backend = backend_factory(postgres_url)
    wait_ready(backend.get)
    return backend

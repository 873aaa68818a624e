"""Backend fixtures: the app in-process (TestClient) or as real uvicorn processes, both against a
fresh database on the session's throwaway PostgreSQL (tests/support/postgres.py)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

BACKEND_DIR = Path(__file__).resolve().parents[2] / "apps" / "backend"
if str(BACKEND_DIR) not in sys.path:  # the backend is not an installed package; import it from source
    sys.path.insert(0, str(BACKEND_DIR))

from app.config import Settings, normalize_database_url  # noqa: E402
from app.main import create_app  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from tests.backend.live import (  # noqa: E402, F401 - re-exported for the test modules
    JWT_SECRET,
    BackendProcess,
    free_port,
    start_backend,
    wait_ready,
)


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": normalize_database_url(database_url),
        "jwt_secret": JWT_SECRET,
        "bcrypt_rounds": 4,  # the cost factor does not change behaviour, only time
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def run_backend_module(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m <args>` in the backend folder with exactly `env` added to a clean environment: the
    backend's own settings are removed first so the caller decides which ones are set."""
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "JWT_SECRET")}
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=BACKEND_DIR,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


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

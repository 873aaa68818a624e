"""Real uvicorn processes: two replicas racing on one fresh database, graceful SIGTERM, JSON logs."""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Callable

import httpx
import psycopg
import pytest
from app.migrate import head_revision

from .conftest import BackendProcess, sign_up, wait_ready

pytestmark = pytest.mark.postgres


def test_two_replicas_start_together_on_one_fresh_database(
    postgres_url: str, backend_factory: Callable[..., BackendProcess]
) -> None:
    first, second = backend_factory(postgres_url), backend_factory(postgres_url)
    wait_ready(first.get)
    wait_ready(second.get)

    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*), min(version_num) FROM alembic_version").fetchone() == (1, head_revision())
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables == {"alembic_version", "users", "tasks", "conversations", "messages"}
    applied = [b for b in (first, second) if '"msg": "migrations applied"' in b.log()]
    assert len(applied) == 1, "exactly one replica should have applied the migrations"

    # Both serve the same data: sign up on one, work on the other, continue a chat across them.
    with (
        httpx.Client(base_url=first.base_url, timeout=60) as a,
        httpx.Client(base_url=second.base_url, timeout=60) as b,
    ):
        user = sign_up(a)
        login = b.post("/api/auth/login", json={"email": user.email, "password": user.password})
        assert login.status_code == 200
        created = b.post("/api/tasks", json={"title": "from replica two"}, headers=user.headers)
        assert created.status_code == 201
        assert [t["title"] for t in a.get("/api/tasks", headers=user.headers).json()] == ["from replica two"]
        turn = a.post("/api/chat", json={"message": "add buy milk"}, headers=user.headers).json()
        follow = b.post(
            "/api/chat",
            json={"message": "what's on my list", "conversation_id": turn["conversation_id"]},
            headers=user.headers,
        )
        assert follow.status_code == 200 and "buy milk" in follow.json()["reply"]


def test_sigterm_finishes_the_request_in_flight(live_backend: BackendProcess) -> None:
    """Send half a request, SIGTERM the server, send the rest: the answer still arrives, then it exits 0-ish."""
    body = json.dumps({"email": "late@example.com", "password": "password-123"}).encode()
    head = (
        f"POST /api/auth/signup HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", live_backend.port), timeout=30) as sock:
        sock.sendall(head + body[:10])
        time.sleep(0.5)  # the server is now reading this request
        live_backend.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert live_backend.process.poll() is None, "server quit with a request in flight"
        sock.sendall(body[10:])
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    assert response.startswith(b"HTTP/1.1 201"), response[:200]
    live_backend.process.wait(timeout=30)
    # uvicorn re-raises the signal after a clean shutdown, so the status is "killed by SIGTERM".
    assert live_backend.process.returncode in (0, -signal.SIGTERM)
    log = live_backend.log()
    assert '"msg": "Application shutdown complete."' in log
    assert '"msg": "stopped"' in log


def test_process_logs_are_json_lines_without_secrets(live_backend: BackendProcess) -> None:
    with httpx.Client(base_url=live_backend.base_url, timeout=60) as http:
        user = sign_up(http, password="very-secret-password")
        http.get("/api/tasks", headers={**user.headers, "X-Request-ID": "trace-me"})
        http.post("/api/chat", json={"message": "add buy milk"}, headers=user.headers)
    live_backend.stop()
    lines = [line for line in live_backend.log().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is JSON
    request = next(e for e in entries if e.get("request_id") == "trace-me")
    assert {k: request[k] for k in ("method", "path", "status")} == {
        "method": "GET",
        "path": "/api/tasks",
        "status": 200,
    }
    assert request["duration_ms"] >= 0
    assert sum(1 for e in entries if e.get("msg") == "request" and e.get("path") == "/api/chat") == 1
    text = "\n".join(lines)
    assert user.token not in text and "very-secret-password" not in text
    assert "JWT" not in text and "test-secret-" not in text


def test_waits_for_the_database_and_becomes_ready(
    postgres_server,
    backend_factory: Callable[..., BackendProcess],  # type: ignore[no-untyped-def]
) -> None:
    """Started before its database exists: alive but not ready, then ready once the database appears."""
    name = "late_db_" + str(int(time.time() * 1000))
    backend = backend_factory(postgres_server.url(name))
    deadline = time.monotonic() + 120
    while backend.get("/health").status_code != 200:
        assert time.monotonic() < deadline, backend.log()
        time.sleep(0.1)
    not_ready = backend.get("/ready")
    assert not_ready.status_code == 503
    assert "OperationalError" in not_ready.json()["detail"]
    postgres_server.create_database(name)
    try:
        wait_ready(backend.get)
    finally:
        backend.stop()
        postgres_server.drop_database(name)

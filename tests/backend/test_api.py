"""Every REST endpoint's happy path, in-process against a real database."""

from __future__ import annotations

import datetime as dt
import json
import logging

import psycopg
import pytest
from fastapi.testclient import TestClient

from .conftest import User, sign_up

pytestmark = pytest.mark.postgres


def test_health_and_ready(client: TestClient) -> None:
    for path in ("/health", "/api/health"):
        assert client.get(path).json() == {"status": "ok"}
    for path in ("/ready", "/api/ready"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.json()["status"] == "ready"


def test_signup_login_me(client: TestClient) -> None:
    signup = client.post("/api/auth/signup", json={"email": "Ada@Example.com", "password": "analytical-engine"})
    assert signup.status_code == 201
    body = signup.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    assert body["user"]["email"] == "ada@example.com"
    login = client.post("/api/auth/login", json={"email": "ada@example.com", "password": "analytical-engine"})
    assert login.status_code == 200
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == body["user"]["id"]


def test_passwords_are_stored_hashed(client: TestClient, postgres_url: str) -> None:
    sign_up(client, "hash@example.com", "plain-text-password")
    with psycopg.connect(postgres_url) as conn:
        stored = conn.execute("SELECT password_hash FROM users WHERE email = 'hash@example.com'").fetchone()[0]
    assert "plain-text-password" not in stored
    assert stored.startswith("$2")


def test_task_crud(client: TestClient, user: User) -> None:
    h = user.headers
    created = client.post(
        "/api/tasks", json={"title": "  buy   milk ", "description": "2 litres", "due_date": "2026-12-01"}, headers=h
    )
    assert created.status_code == 201
    task = created.json()
    assert (task["title"], task["description"], task["due_date"], task["completed"]) == (
        "buy milk",
        "2 litres",
        "2026-12-01",
        False,
    )
    tid = task["id"]

    assert client.get(f"/api/tasks/{tid}", headers=h).json()["title"] == "buy milk"
    patched = client.patch(f"/api/tasks/{tid}", json={"title": "buy oat milk", "due_date": None}, headers=h).json()
    assert (patched["title"], patched["due_date"], patched["description"]) == ("buy oat milk", None, "2 litres")

    done = client.post(f"/api/tasks/{tid}/complete", headers=h).json()
    assert done["completed"] is True and done["completed_at"] is not None
    assert [t["id"] for t in client.get("/api/tasks?status=completed", headers=h).json()] == [tid]
    assert client.get("/api/tasks?status=pending", headers=h).json() == []
    undone = client.post(f"/api/tasks/{tid}/uncomplete", headers=h).json()
    assert undone["completed"] is False and undone["completed_at"] is None
    assert client.patch(f"/api/tasks/{tid}", json={"completed": True}, headers=h).json()["completed"] is True

    client.post("/api/tasks", json={"title": "second"}, headers=h)
    listed = client.get("/api/tasks", headers=h).json()
    assert [t["title"] for t in listed] == ["buy oat milk", "second"]

    assert client.delete(f"/api/tasks/{tid}", headers=h).status_code == 204
    assert client.get(f"/api/tasks/{tid}", headers=h).status_code == 404
    assert [t["title"] for t in client.get("/api/tasks", headers=h).json()] == ["second"]


def test_chat_and_conversation_history(client: TestClient, user: User) -> None:
    h = user.headers
    first = client.post("/api/chat", json={"message": "add buy milk tomorrow"}, headers=h)
    assert first.status_code == 200
    body = first.json()
    assert body["mode"] == "local"
    assert body["tool_calls"][0]["name"] == "add_task"
    conversation_id = body["conversation_id"]
    second = client.post(
        "/api/chat", json={"message": "what's on my list", "conversation_id": conversation_id}, headers=h
    )
    assert second.json()["conversation_id"] == conversation_id
    assert "buy milk" in second.json()["reply"]

    conversations = client.get("/api/conversations", headers=h).json()
    assert [c["id"] for c in conversations] == [conversation_id]
    assert conversations[0]["title"] == "add buy milk tomorrow"
    messages = client.get(f"/api/conversations/{conversation_id}/messages", headers=h).json()
    assert [(m["role"], m["content"][:14]) for m in messages] == [
        ("user", "add buy milk t"),
        ("assistant", first.json()["reply"][:14]),
        ("user", "what's on my l"),
        ("assistant", second.json()["reply"][:14]),
    ]
    assert messages[1]["tool_calls"][0]["name"] == "add_task"
    assert messages[1]["mode"] == "local"


def test_metrics_count_requests_by_route(client: TestClient, user: User) -> None:
    client.get(f"/api/tasks/{123456}", headers=user.headers)
    text = client.get("/metrics").text
    assert 'http_requests_total{method="GET",route="/api/tasks/{task_id}",status="404"}' in text
    assert "http_request_duration_seconds_bucket" in text


def test_request_log_is_one_json_line_without_secrets(
    client: TestClient, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    from app.logs import JsonFormatter

    with caplog.at_level(logging.INFO, logger="app.request"):
        response = client.get("/api/tasks?token=query-secret", headers={**user.headers, "X-Request-ID": "req-42"})
        client.post("/api/auth/login", json={"email": user.email, "password": user.password})
    assert response.headers["x-request-id"] == "req-42"
    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in caplog.records if r.name == "app.request"]
    assert all("\n" not in line for line in lines)
    entries = [json.loads(line) for line in lines]
    entry = next(e for e in entries if e.get("request_id") == "req-42")
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/api/tasks", 200)
    assert isinstance(entry["duration_ms"], float)
    everything = "\n".join(lines)
    for secret in (user.token, user.password, "query-secret"):
        assert secret not in everything


def test_due_dates_round_trip_as_iso_dates(client: TestClient, user: User) -> None:
    due = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    created = client.post("/api/tasks", json={"title": "t", "due_date": due}, headers=user.headers).json()
    assert created["due_date"] == due


def test_cors_only_for_configured_origins(postgres_url: str) -> None:
    from app.main import create_app

    from .conftest import make_settings, wait_ready

    app = create_app(make_settings(postgres_url, cors_origins=("http://ui.example",)))
    with TestClient(app) as client:
        wait_ready(client.get)
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        allowed = client.options("/api/chat", headers={"Origin": "http://ui.example", **preflight})
        refused = client.options("/api/chat", headers={"Origin": "http://evil.example", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://ui.example"
    assert "access-control-allow-origin" not in refused.headers


def test_run_migrations_false_waits_for_the_schema(postgres_url: str) -> None:
    """With RUN_MIGRATIONS=false (a separate job migrates) the app stays unready until the schema is at head."""
    from app.config import normalize_database_url
    from app.main import create_app
    from app.migrate import upgrade_to_head
    from sqlalchemy import create_engine

    from .conftest import make_settings, wait_ready

    with TestClient(create_app(make_settings(postgres_url, run_migrations=False))) as client:
        not_ready = client.get("/ready")
        assert not_ready.status_code == 503
        assert "RUN_MIGRATIONS=false" in not_ready.json()["detail"] or "still running" in not_ready.json()["detail"]
        with psycopg.connect(postgres_url) as conn:
            assert conn.execute("SELECT to_regclass('public.tasks')").fetchone() == (None,)
        engine = create_engine(normalize_database_url(postgres_url))
        upgrade_to_head(engine)
        engine.dispose()
        wait_ready(client.get)

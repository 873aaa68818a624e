"""Unencodable text (a lone UTF-16 surrogate, which JSON allows and UTF-8 cannot hold) is refused
with 422 on every text field of every REST route, and as a tool error by every MCP tool; nothing is
stored and the connection stays usable."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from .conftest import BackendProcess, User, sign_up

pytestmark = pytest.mark.postgres

SURROGATE = "\udfff"


def raw_json(value: Any) -> bytes:
    # ensure_ascii keeps the lone surrogate as the escape "\udfff", exactly as a hostile client sends it.
    return json.dumps(value, ensure_ascii=True).encode()


def rest_cases(task_id: int) -> list[tuple[str, str, dict[str, Any], str]]:
    good_signup = {"email": "fresh@example.com", "password": "a-fine-password"}
    return [
        ("post", "/api/auth/signup", {**good_signup, "email": f"x{SURROGATE}@example.com"}, "email"),
        ("post", "/api/auth/signup", {**good_signup, "password": f"a-fine-password{SURROGATE}"}, "password"),
        ("post", "/api/auth/login", {**good_signup, "email": f"x{SURROGATE}@example.com"}, "email"),
        ("post", "/api/auth/login", {**good_signup, "password": f"pw{SURROGATE}"}, "password"),
        ("post", "/api/tasks", {"title": f"x{SURROGATE}"}, "title"),
        ("post", "/api/tasks", {"title": "x", "description": SURROGATE}, "description"),
        ("post", "/api/tasks", {"title": "x", "due_date": f"2026-12-01{SURROGATE}"}, "due_date"),
        ("patch", f"/api/tasks/{task_id}", {"title": SURROGATE}, "title"),
        ("patch", f"/api/tasks/{task_id}", {"description": f"d{SURROGATE}"}, "description"),
        ("post", "/api/chat", {"message": f"add milk {SURROGATE}"}, "message"),
        ("post", "/api/chat", {"message": SURROGATE}, "message"),
    ]


def test_every_rest_text_field_refuses_unencodable_text(client: TestClient, user: User, postgres_url: str) -> None:
    task_id = client.post("/api/tasks", json={"title": "keep me", "description": "as is"}, headers=user.headers).json()[
        "id"
    ]
    for method, path, body, field in rest_cases(task_id):
        response = client.request(
            method, path, content=raw_json(body), headers={**user.headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 422, (method, path, body, response.status_code, response.text)
        detail = response.json()["detail"]
        assert isinstance(detail, str) and field in detail, detail
        assert "UTF-8" in detail or "unicode" in detail or field == "due_date", detail  # due_date is a date
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT title, description FROM tasks").fetchall() == [("keep me", "as is")]
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (0,)


def test_every_mcp_text_argument_refuses_unencodable_text(live_backend: BackendProcess, postgres_url: str) -> None:
    with httpx.Client(base_url=live_backend.base_url, timeout=60) as http:
        user = sign_up(http)
        task_id = http.post("/api/tasks", json={"title": "keep me"}, headers=user.headers).json()["id"]
    calls = [
        ("add_task", {"title": f"x{SURROGATE}"}),
        ("add_task", {"title": "x", "description": SURROGATE}),
        ("add_task", {"title": "x", "due_date": SURROGATE}),
        ("update_task", {"task_id": task_id, "title": SURROGATE}),
        ("update_task", {"task_id": task_id, "description": SURROGATE}),
        ("update_task", {"task_id": task_id, "due_date": SURROGATE}),
        ("list_tasks", {"status": SURROGATE}),
        ("list_tasks", {"search": SURROGATE}),
    ]
    headers = {
        **user.headers,
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    for number, (name, args) in enumerate(calls):
        # Raw JSON-RPC: the MCP client library cannot even encode such text, a hostile client can.
        message = {"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": {"name": name, "arguments": args}}
        response = httpx.post(
            live_backend.base_url + "/api/mcp", content=raw_json(message), headers=headers, timeout=30
        )
        if response.status_code == 400:  # refused while parsing, before any tool runs
            error = response.json()["error"]
            assert error["code"] == -32700 and "surrogate" in error["message"], (name, error)
        else:
            assert response.status_code == 200, (name, response.status_code, response.text)
            result = response.json()["result"]
            assert result["isError"] is True and "UTF-8" in result["content"][0]["text"], (name, result)
    # The server is still healthy and nothing changed.
    assert live_backend.get("/ready").status_code == 200
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT title, description FROM tasks").fetchall() == [("keep me", None)]


def test_in_process_mcp_tools_refuse_unencodable_text(postgres_url: str) -> None:
    """The chat agent's in-process MCP session passes Python strings without a JSON round trip, so
    the tools' own argument types must refuse such text."""
    from app.config import normalize_database_url
    from app.db import Database
    from app.mcp_tools import acting_as, build_mcp_server
    from app.migrate import upgrade_to_head
    from app.security import TokenIssuer
    from mcp import Client

    from .live import JWT_SECRET

    db = Database(normalize_database_url(postgres_url))
    try:
        upgrade_to_head(db.engine)
        with db.engine.begin() as conn:
            user_id = conn.exec_driver_sql(
                "INSERT INTO users (email, password_hash) VALUES ('t@example.com', 'x') RETURNING id"
            ).scalar_one()
        server = build_mcp_server(db, TokenIssuer(JWT_SECRET, 5))

        async def work() -> list[Any]:
            with acting_as(user_id):
                async with Client(server) as client:
                    return [
                        await client.call_tool("add_task", {"title": f"x{SURROGATE}"}),
                        await client.call_tool("add_task", {"title": "x", "description": SURROGATE}),
                        await client.call_tool("list_tasks", {"search": SURROGATE}),
                    ]

        for result in asyncio.run(work()):
            assert result.is_error and "UTF-8" in result.content[0].text, result
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM tasks").scalar_one() == 0
    finally:
        db.dispose()

"""Hostile and odd payloads against every write endpoint: always a 4xx or a success, never a 5xx."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from .conftest import User

pytestmark = pytest.mark.postgres

PAYLOADS: list[tuple[bytes, str]] = [
    (b"", "application/json"),
    (b"null", "application/json"),
    (b"[]", "application/json"),
    (b'"just a string"', "application/json"),
    (b"\xff\xfe\x00garbage", "application/json"),
    (
        b'{"title": "\\ud800", "message": "\\ud800", "email": "\\ud800@x.io", '
        b'"password": "\\ud800\\ud800\\ud800\\ud800"}',
        "application/json",
    ),
    (b'{"title": "ok", "message": "ok", "conversation_id": 1e400}', "application/json"),
    (b'{"title": "ok", "message": "ok", "conversation_id": 99999999999999999999999}', "application/json"),
    (b'{"title": "ok", "message": "ok", "due_date": "9999-99-99"}', "application/json"),
    (b'{"title": {"nested": [1, 2]}, "message": [1]}', "application/json"),
    (b"[" * 5000 + b"]" * 5000, "application/json"),
    (b'{"title": "ok", "message": "ok"}', "text/plain"),
    (b"title=ok&message=ok", "application/x-www-form-urlencoded"),
    (b'{"title": "ok", "message": "ok", "completed": null, "due_date": null}', "application/json"),
]

ENDPOINTS = [
    ("post", "/api/auth/signup"),
    ("post", "/api/auth/login"),
    ("post", "/api/tasks"),
    ("patch", "/api/tasks/{id}"),
    ("post", "/api/chat"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_no_payload_causes_a_server_error(client: TestClient, user: User, method: str, path: str) -> None:
    task = client.post("/api/tasks", json={"title": "target"}, headers=user.headers).json()
    for content, content_type in PAYLOADS:
        response = client.request(
            method, path.format(id=task["id"]), content=content, headers={**user.headers, "Content-Type": content_type}
        )
        assert response.status_code < 500, (content[:80], content_type, response.status_code, response.text)
        assert "detail" in response.json() or response.status_code < 300


@pytest.mark.parametrize(
    "message",
    [
        "\\ud800",
        "add \\ud800 milk",
        "add " + "x" * 500,
        "mark 99999999999999999999 done",
        "delete task 0",
        "rename task 1 to ",
    ],
)
def test_odd_chat_messages_are_answered(client: TestClient, user: User, message: str) -> None:
    # Raw JSON so escapes such as a lone surrogate reach the server exactly as a hostile client sends them.
    body = ('{"message": "' + message + '"}').encode()
    response = client.post("/api/chat", content=body, headers={**user.headers, "Content-Type": "application/json"})
    assert response.status_code < 500, response.text


def test_lone_surrogates_are_refused_clearly(client: TestClient, user: User) -> None:
    body = b'{"title": "buy \\ud800"}'
    response = client.post("/api/tasks", content=body, headers={**user.headers, "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert client.get("/api/tasks", headers=user.headers).json() == []

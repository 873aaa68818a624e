"""Bad input gets the right 4xx with a clear message, never a 500; users never see each other's data."""

from __future__ import annotations

import datetime as dt

import jwt
import psycopg
import pytest
from fastapi.testclient import TestClient

from .conftest import JWT_SECRET, User, sign_up

pytestmark = pytest.mark.postgres


def detail(response) -> str:  # type: ignore[no-untyped-def]
    return str(response.json()["detail"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/auth/signup"),
        ("post", "/api/auth/login"),
        ("post", "/api/tasks"),
        ("patch", "/api/tasks/1"),
        ("post", "/api/chat"),
    ],
)
def test_malformed_json_is_400(client: TestClient, user: User, method: str, path: str) -> None:
    response = client.request(
        method, path, content=b'{"title": "x",', headers={**user.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "malformed JSON" in detail(response)


@pytest.mark.parametrize(
    ("method", "path", "body", "needle"),
    [
        ("post", "/api/tasks", {"title": 123}, "title"),
        ("post", "/api/tasks", {"title": ""}, "title"),
        ("post", "/api/tasks", {"title": "x" * 201}, "title"),
        ("post", "/api/tasks", {"title": "x", "due_date": "tomorrow"}, "due_date"),
        ("post", "/api/tasks", {"title": "x", "colour": "red"}, "colour"),
        ("post", "/api/tasks", {"title": "nul\u0000byte"}, "NUL"),
        ("post", "/api/tasks", ["not", "an", "object"], "body"),
        ("post", "/api/tasks", {}, "title"),
        ("patch", "/api/tasks/{id}", {"completed": "yes"}, "completed"),
        ("patch", "/api/tasks/{id}", {}, "nothing to change"),
        ("patch", "/api/tasks/{id}", {"title": None}, "title"),
        ("post", "/api/chat", {"message": 5}, "message"),
        ("post", "/api/chat", {"message": ""}, "message"),
        ("post", "/api/chat", {"message": "   "}, "blank"),
        ("post", "/api/chat", {"message": "x" * 2001}, "too long"),
        ("post", "/api/chat", {"message": "hi", "conversation_id": "abc"}, "conversation_id"),
        ("post", "/api/chat", {"message": "hi", "conversation_id": 0}, "conversation_id"),
        ("post", "/api/auth/signup", {"email": "not-an-email", "password": "long-enough"}, "email"),
        ("post", "/api/auth/signup", {"email": "a@b.co", "password": "short"}, "password"),
        ("post", "/api/auth/signup", {"email": "a@b.co", "password": "é" * 40}, "72 bytes"),
        ("post", "/api/auth/signup", {"email": "a@b.co", "password": 12345678}, "password"),
    ],
)
def test_wrong_types_and_values_are_422(
    client: TestClient, user: User, method: str, path: str, body: object, needle: str
) -> None:
    task = client.post("/api/tasks", json={"title": "existing"}, headers=user.headers).json()
    response = client.request(method, path.format(id=task["id"]), json=body, headers=user.headers)
    assert response.status_code == 422, response.text
    assert needle in detail(response)


def test_oversized_body_is_413(client: TestClient, user: User) -> None:
    response = client.post("/api/chat", json={"message": "x" * 70_000}, headers=user.headers)
    assert response.status_code == 413
    assert "limit" in detail(response)


def test_oversized_body_without_length_header_is_413(client: TestClient, user: User) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"message": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    response = client.post("/api/chat", content=chunks(), headers={**user.headers, "Content-Type": "application/json"})
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/tasks/999999", 404),
        ("patch", "/api/tasks/999999", 404),
        ("delete", "/api/tasks/999999", 404),
        ("post", "/api/tasks/999999/complete", 404),
        ("post", "/api/tasks/999999/uncomplete", 404),
        ("get", "/api/tasks/abc", 422),
        ("get", "/api/tasks/0", 422),
        ("get", "/api/tasks/99999999999", 422),
        ("get", "/api/tasks?status=someday", 422),
        ("get", "/api/conversations/999999/messages", 404),
        ("get", "/api/conversations/abc/messages", 422),
        ("put", "/api/tasks/1", 405),
        ("get", "/api/nowhere", 404),
    ],
)
def test_unknown_ids_and_routes(client: TestClient, user: User, method: str, path: str, status: int) -> None:
    body = {"title": "x"} if method == "patch" else None
    response = client.request(method, path, json=body, headers=user.headers)
    assert response.status_code == status, response.text


def test_chat_into_an_unknown_conversation_is_404(client: TestClient, user: User) -> None:
    response = client.post("/api/chat", json={"message": "list", "conversation_id": 424242}, headers=user.headers)
    assert response.status_code == 404
    assert "conversation 424242 not found" in detail(response)


def _token(secret: str = JWT_SECRET, **claims: object) -> str:
    now = dt.datetime.now(dt.UTC)
    # Made when pytest collects, used maybe half an hour later in a full run: valid for a day, not minutes.
    payload = {"sub": "1", "iat": now, "exp": now + dt.timedelta(days=1), "iss": "todo-backend", **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


@pytest.mark.parametrize(
    ("authorization", "needle"),
    [
        (None, "missing Authorization"),
        ("Bearer", "Bearer <token>"),
        ("Basic dXNlcjpwYXNz", "Bearer <token>"),
        ("Bearer not.a.jwt", "invalid token"),
        ("Bearer " + _token(exp=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)), "expired"),
        ("Bearer " + _token(secret="another-secret-of-a-forger-0123456789"), "invalid token"),
        ("Bearer " + _token(iss="someone-else"), "invalid token"),
        (
            "Bearer " + jwt.encode({"sub": "1", "exp": 9999999999, "iss": "todo-backend"}, None, algorithm="none"),
            "invalid token",
        ),
        ("Bearer " + _token(sub="424242"), "no longer exists"),
    ],
)
def test_bad_tokens_are_401(client: TestClient, user: User, authorization: str | None, needle: str) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for method, path in (
        ("get", "/api/tasks"),
        ("post", "/api/chat"),
        ("get", "/api/conversations"),
        ("get", "/api/auth/me"),
    ):
        response = client.request(method, path, headers=headers, json={"message": "list"} if method == "post" else None)
        assert response.status_code == 401, (path, response.text)
        assert needle in detail(response)
        assert response.headers["www-authenticate"] == "Bearer"


def test_signup_and_login_failures(client: TestClient, user: User) -> None:
    again = client.post("/api/auth/signup", json={"email": user.email.upper(), "password": "whatever-123"})
    assert again.status_code == 409 and "already exists" in detail(again)
    wrong = client.post("/api/auth/login", json={"email": user.email, "password": "wrong-password"})
    unknown = client.post("/api/auth/login", json={"email": "nobody@example.com", "password": "wrong-password"})
    assert wrong.status_code == unknown.status_code == 401
    assert detail(wrong) == detail(unknown)  # no hint whether the account exists


def test_users_cannot_see_or_change_each_other(client: TestClient, postgres_url: str) -> None:
    alice, bob = sign_up(client), sign_up(client)
    task = client.post("/api/tasks", json={"title": "alice's secret"}, headers=alice.headers).json()
    chat = client.post("/api/chat", json={"message": "add alice private errand"}, headers=alice.headers).json()

    assert client.get("/api/tasks", headers=bob.headers).json() == []
    for method, path, body in [
        ("get", f"/api/tasks/{task['id']}", None),
        ("patch", f"/api/tasks/{task['id']}", {"title": "pwned"}),
        ("post", f"/api/tasks/{task['id']}/complete", None),
        ("post", f"/api/tasks/{task['id']}/uncomplete", None),
        ("delete", f"/api/tasks/{task['id']}", None),
        ("get", f"/api/conversations/{chat['conversation_id']}/messages", None),
    ]:
        response = client.request(method, path, json=body, headers=bob.headers)
        assert response.status_code == 404, (method, path, response.text)
    assert client.get("/api/conversations", headers=bob.headers).json() == []
    continued = client.post(
        "/api/chat", json={"message": "list", "conversation_id": chat["conversation_id"]}, headers=bob.headers
    )
    assert continued.status_code == 404

    # Bob's agent cannot reach Alice's task by id or by title either.
    for message in (
        f"mark {task['id']} done",
        f"delete task {task['id']}",
        "delete the secret task",
        f"rename task {task['id']} to pwned",
    ):
        reply = client.post("/api/chat", json={"message": message}, headers=bob.headers)
        assert reply.status_code == 200
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT title, completed FROM tasks WHERE id = %s", (task["id"],)).fetchone()
    assert row == ("alice's secret", False)
    assert [t["title"] for t in client.get("/api/tasks", headers=alice.headers).json()] == [
        "alice's secret",
        "alice private errand",
    ]

"""Every offline-agent intent end to end: message in, the database row changed, the reply out."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from .conftest import User

pytestmark = pytest.mark.postgres


def say(client: TestClient, user: User, message: str, conversation_id: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message}
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    response = client.post("/api/chat", json=body, headers=user.headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["mode"] == "local"
    return result


def rows(url: str, user: User) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT id, title, completed, due_date FROM tasks WHERE user_id = %s ORDER BY id", (user.id,)
        ).fetchall()


def test_add_with_due_date(client: TestClient, user: User, postgres_url: str) -> None:
    result = say(client, user, "add buy milk tomorrow")
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    [(task_id, title, completed, due)] = rows(postgres_url, user)
    assert (title, completed, due) == ("buy milk", False, tomorrow)
    assert result["tool_calls"] == [
        {
            "name": "add_task",
            "arguments": {"title": "buy milk", "due_date": tomorrow.isoformat()},
            "result": result["tool_calls"][0]["result"],
            "is_error": False,
        }
    ]
    assert result["tool_calls"][0]["result"]["id"] == task_id
    assert (
        f"#{task_id}" in result["reply"] and "buy milk" in result["reply"] and tomorrow.isoformat() in result["reply"]
    )


def test_list(client: TestClient, user: User) -> None:
    assert "empty" in say(client, user, "what's on my list")["reply"]
    say(client, user, "add buy milk")
    say(client, user, "add call mom")
    result = say(client, user, "what's on my list")
    assert [c["name"] for c in result["tool_calls"]] == ["list_tasks"]
    assert "2 tasks" in result["reply"] and "buy milk" in result["reply"] and "call mom" in result["reply"]


def test_complete_by_id_and_uncomplete(client: TestClient, user: User, postgres_url: str) -> None:
    task_id = say(client, user, "add buy milk")["tool_calls"][0]["result"]["id"]
    result = say(client, user, f"mark {task_id} done")
    assert rows(postgres_url, user)[0][2] is True
    assert [c["name"] for c in result["tool_calls"]] == ["complete_task"]
    assert "as done" in result["reply"]
    pending = say(client, user, "show my pending tasks")
    assert "no pending tasks" in pending["reply"]
    result = say(client, user, f"mark {task_id} not done")
    assert rows(postgres_url, user)[0][2] is False
    assert result["tool_calls"][0]["arguments"] == {"task_id": task_id, "completed": False}
    assert "not done" in result["reply"]


def test_complete_by_title(client: TestClient, user: User, postgres_url: str) -> None:
    say(client, user, "add buy milk")
    say(client, user, "add walk the dog")
    result = say(client, user, "complete the dog task")
    assert [(r[1], r[2]) for r in rows(postgres_url, user)] == [("buy milk", False), ("walk the dog", True)]
    assert [c["name"] for c in result["tool_calls"]] == ["list_tasks", "complete_task"]


def test_delete_by_title_and_by_id(client: TestClient, user: User, postgres_url: str) -> None:
    say(client, user, "add buy milk")
    keep = say(client, user, "add call mom")["tool_calls"][0]["result"]["id"]
    other = say(client, user, "add pay rent")["tool_calls"][0]["result"]["id"]
    result = say(client, user, "delete the milk task")
    assert "Deleted" in result["reply"] and "buy milk" in result["reply"]
    say(client, user, f"delete task {other}")
    assert [r[0] for r in rows(postgres_url, user)] == [keep]


def test_rename(client: TestClient, user: User, postgres_url: str) -> None:
    task_id = say(client, user, "add buy milk")["tool_calls"][0]["result"]["id"]
    result = say(client, user, f"rename task {task_id} to buy oat milk")
    assert rows(postgres_url, user)[0][1] == "buy oat milk"
    assert result["tool_calls"][0]["arguments"] == {"task_id": task_id, "title": "buy oat milk"}
    assert "buy oat milk" in result["reply"]


def test_ambiguous_and_missing_titles_change_nothing(client: TestClient, user: User, postgres_url: str) -> None:
    say(client, user, "add buy milk")
    say(client, user, "add buy oat milk")
    before = rows(postgres_url, user)
    ambiguous = say(client, user, "delete the milk task")
    assert "Several tasks match" in ambiguous["reply"]
    missing = say(client, user, "complete the unicorn task")
    assert "couldn't find" in missing["reply"]
    unknown_id = say(client, user, "mark 999999 done")
    assert "not found" in unknown_id["reply"] and unknown_id["tool_calls"][0]["is_error"] is True
    assert rows(postgres_url, user) == before


def test_unknown_intent_gets_help(client: TestClient, user: User, postgres_url: str) -> None:
    result = say(client, user, "what is the meaning of life")
    assert result["tool_calls"] == []
    assert "didn't understand" in result["reply"] and "add buy milk tomorrow" in result["reply"]
    assert rows(postgres_url, user) == []


def test_conversation_is_reloaded_from_the_database(client: TestClient, user: User, postgres_url: str) -> None:
    """Two separate app instances (as two replicas would) continue the same conversation."""
    from app.main import create_app

    from .conftest import make_settings, wait_ready

    first = say(client, user, "add buy milk")
    with TestClient(create_app(make_settings(postgres_url))) as other_replica:
        wait_ready(other_replica.get)
        response = other_replica.post(
            "/api/chat",
            json={"message": "what's on my list", "conversation_id": first["conversation_id"]},
            headers=user.headers,
        )
    assert response.status_code == 200
    assert "buy milk" in response.json()["reply"]
    with psycopg.connect(postgres_url) as conn:
        count = conn.execute(
            "SELECT count(*) FROM messages WHERE conversation_id = %s", (first["conversation_id"],)
        ).fetchone()
    assert count == (4,)


def test_openai_mode_falls_back_to_local_when_the_service_is_unreachable(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a key set the Agents SDK path runs (tools listed through MCP, model called); when the
    model service cannot be reached the local agent answers, says so, and the task is still added."""
    from app.main import create_app

    from .conftest import free_port, make_settings, sign_up, wait_ready

    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")  # nothing listens there
    settings = make_settings(postgres_url, openai_api_key="sk-test-not-a-real-key", openai_model="gpt-4o-mini")
    with TestClient(create_app(settings)) as client:
        wait_ready(client.get)
        user = sign_up(client)
        response = client.post("/api/chat", json={"message": "add buy milk"}, headers=user.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["mode"] == "local"
    assert "AI service is unavailable" in body["reply"]
    assert [c["name"] for c in body["tool_calls"]] == ["add_task"]
    assert [r[1] for r in rows(postgres_url, user)] == ["buy milk"]
    assert "sk-test-not-a-real-key" not in response.text

"""A user with more than 500 tasks: REST pages and reports the true total, the MCP list_tasks tool
reports the true total and pages, chat states the true number, finds tasks by name beyond the
first 500 and pages through the list ('show more', 'page 7', 'show pending tasks 101-200').
Conversations and their messages page the same way as tasks."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import httpx2
import psycopg
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from .conftest import BackendProcess, User, sign_up

pytestmark = pytest.mark.postgres

MANY = 650


def give_many_tasks(postgres_url: str, user: User) -> None:
    """MANY tasks straight into the database (the API would take minutes on a shared machine); the
    last one has a name no other task shares."""
    with psycopg.connect(postgres_url) as conn:
        conn.execute(
            "INSERT INTO tasks (user_id, title, completed) "
            "SELECT %s, 'chore number ' || g, g %% 3 = 0 FROM generate_series(1, %s) g",
            (user.id, MANY - 1),
        )
        conn.execute("INSERT INTO tasks (user_id, title) VALUES (%s, 'water the orchids')", (user.id,))


@pytest.fixture
def busy(live_backend: BackendProcess, postgres_url: str) -> tuple[httpx.Client, User]:
    http = httpx.Client(base_url=live_backend.base_url, timeout=60)
    user = sign_up(http)
    give_many_tasks(postgres_url, user)
    return http, user


def test_rest_pages_through_every_task(busy: tuple[httpx.Client, User]) -> None:
    http, user = busy
    first = http.get("/api/tasks", headers=user.headers)
    assert first.status_code == 200
    assert first.headers["x-total-count"] == str(MANY)
    assert len(first.json()) == 500  # the default page is the largest
    seen: list[int] = []
    url: str | None = "/api/tasks?limit=200"
    while url:
        page = http.get(url, headers=user.headers)
        assert page.status_code == 200, page.text
        assert page.headers["x-total-count"] == str(MANY)
        seen.extend(t["id"] for t in page.json())
        link = page.headers.get("link")
        url = link.split(";")[0].strip("<>") if link else None
    assert len(seen) == MANY and seen == sorted(set(seen))
    last = http.get("/api/tasks?offset=640&limit=100", headers=user.headers)
    assert [t["title"] for t in last.json()][-1] == "water the orchids" and "link" not in last.headers
    pending = http.get("/api/tasks?status=pending&limit=1", headers=user.headers)
    assert pending.headers["x-total-count"] == str(MANY - (MANY - 1) // 3)
    for bad in ("limit=0", "limit=501", "offset=-1"):
        assert http.get(f"/api/tasks?{bad}", headers=user.headers).status_code == 422, bad


async def _mcp(url: str, token: str, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        return [(await client.call_tool(name, args)).structured_content for name, args in calls]


def test_mcp_list_tasks_reports_the_true_total(busy: tuple[httpx.Client, User], live_backend: BackendProcess) -> None:
    _, user = busy
    default, last, found = asyncio.run(
        _mcp(
            live_backend.base_url + "/api/mcp",
            user.token,
            [
                ("list_tasks", {}),
                ("list_tasks", {"offset": 600, "limit": 500}),
                ("list_tasks", {"search": "ORCHIDS water"}),
            ],
        )
    )
    assert (default["total"], default["count"], default["next_offset"]) == (MANY, 100, 100)
    assert (last["total"], last["count"], last["next_offset"]) == (MANY, MANY - 600, None)
    assert last["tasks"][-1]["title"] == "water the orchids"
    assert (found["total"], [t["title"] for t in found["tasks"]]) == (1, ["water the orchids"])


def test_chat_states_the_true_total_and_finds_tasks_beyond_500(busy: tuple[httpx.Client, User]) -> None:
    http, user = busy
    listed = http.post("/api/chat", json={"message": "what's on my list"}, headers=user.headers).json()
    assert f"You have {MANY} tasks" in listed["reply"]
    assert f"(showing 1-100 of {MANY}; say 'show more' or 'show tasks 101-200' for the next;" in listed["reply"]
    done = http.post("/api/chat", json={"message": "complete the orchids task"}, headers=user.headers).json()
    assert "Marked" in done["reply"] and "water the orchids" in done["reply"], done["reply"]
    last = http.get(f"/api/tasks?offset={MANY - 1}", headers=user.headers).json()
    assert (last[0]["title"], last[0]["completed"]) == ("water the orchids", True)


def shown_titles(reply: str) -> list[str]:
    return re.findall(r'^\[[ x]\] #\d+ "([^"]+)"', reply, re.M)


def test_chat_pages_through_a_long_list(busy: tuple[httpx.Client, User]) -> None:
    http, user = busy
    conversation: dict[str, int] = {}

    def chat(message: str) -> dict[str, Any]:
        response = http.post("/api/chat", json={"message": message, **conversation}, headers=user.headers)
        assert response.status_code == 200, response.text
        conversation["conversation_id"] = response.json()["conversation_id"]
        return response.json()

    first = chat("what's on my list")
    assert shown_titles(first["reply"]) == [f"chore number {n}" for n in range(1, 101)]
    # 'show more' continues from the latest list reply of this conversation (stored in the database).
    more = chat("show more")
    assert shown_titles(more["reply"]) == [f"chore number {n}" for n in range(101, 201)]
    assert f"(showing 101-200 of {MANY}; say 'show more' or 'show tasks 201-300'" in more["reply"]
    assert more["tool_calls"][0]["arguments"] == {"status": "all", "limit": 100, "offset": 100}
    last = chat("page 7")
    assert shown_titles(last["reply"]) == [f"chore number {n}" for n in range(601, MANY)] + ["water the orchids"]
    assert f"(showing 601-{MANY} of {MANY}: the end of the list)" in last["reply"]
    assert "nothing more to show" in chat("show more")["reply"]
    # A range of one status, then its next page; completed chores are those numbered by a multiple of 3.
    pending_total = MANY - (MANY - 1) // 3
    pending_numbers = [n for n in range(1, MANY) if n % 3]
    pending = chat("show pending tasks 101-200")
    assert f"You have {pending_total} pending tasks" in pending["reply"]
    assert shown_titles(pending["reply"]) == [f"chore number {n}" for n in pending_numbers[100:200]]
    after = chat("next page")
    assert shown_titles(after["reply"]) == [f"chore number {n}" for n in pending_numbers[200:300]]
    assert "say 'show more' or 'show pending tasks 301-400' for the next" in after["reply"]
    beyond = chat("show tasks 900-1000")
    assert shown_titles(beyond["reply"]) == [] and f"You have {MANY} tasks, fewer than 900" in beyond["reply"]


def follow_pages(http: httpx.Client, url: str | None, headers: dict[str, str], total: int) -> list[dict[str, Any]]:
    """Every item of a paged REST list, following Link rel="next"; each page states the same total."""
    items: list[dict[str, Any]] = []
    while url:
        page = http.get(url, headers=headers)
        assert page.status_code == 200, page.text
        assert page.headers["x-total-count"] == str(total)
        items.extend(page.json())
        link = page.headers.get("link")
        url = link.split(";")[0].strip("<>") if link else None
    return items


def test_rest_pages_conversations_and_messages(live_backend: BackendProcess, postgres_url: str) -> None:
    with httpx.Client(base_url=live_backend.base_url, timeout=60) as http:
        user = sign_up(http)
        with psycopg.connect(postgres_url) as conn:
            conn.execute(
                "INSERT INTO conversations (user_id, title) SELECT %s, 'talk ' || g FROM generate_series(1, 120) g",
                (user.id,),
            )
            (busiest,) = conn.execute("SELECT max(id) FROM conversations WHERE user_id = %s", (user.id,)).fetchone()
            conn.execute(
                "INSERT INTO messages (conversation_id, user_id, role, content) "
                "SELECT %s, %s, 'user', 'message ' || g FROM generate_series(1, 130) g",
                (busiest, user.id),
            )
        talks = follow_pages(http, "/api/conversations?limit=50", user.headers, 120)
        assert [c["title"] for c in talks] == [f"talk {n}" for n in range(120, 0, -1)]  # newest first, as before
        said = follow_pages(http, f"/api/conversations/{busiest}/messages?limit=40", user.headers, 130)
        assert [m["content"] for m in said] == [f"message {n}" for n in range(1, 131)]
        whole = http.get("/api/conversations", headers=user.headers)  # the default page holds up to 500, no Link
        assert len(whole.json()) == 120 and "link" not in whole.headers
        for bad in ("limit=0", "limit=501", "offset=-1"):
            assert http.get(f"/api/conversations?{bad}", headers=user.headers).status_code == 422, bad
            assert http.get(f"/api/conversations/{busiest}/messages?{bad}", headers=user.headers).status_code == 422

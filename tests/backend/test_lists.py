"""A user with more than 500 tasks: REST pages and reports the true total, the MCP list_tasks tool
reports the true total and pages, chat states the true number and finds tasks by name beyond the
first 500."""

from __future__ import annotations

import asyncio
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
    assert f"showing the first 100 of {MANY}" in listed["reply"]
    done = http.post("/api/chat", json={"message": "complete the orchids task"}, headers=user.headers).json()
    assert "Marked" in done["reply"] and "water the orchids" in done["reply"], done["reply"]
    last = http.get(f"/api/tasks?offset={MANY - 1}", headers=user.headers).json()
    assert (last[0]["title"], last[0]["completed"]) == ("water the orchids", True)

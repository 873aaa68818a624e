"""The MCP tools through a real MCP client session over streamable HTTP, against a real uvicorn."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import httpx2
import psycopg
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from .conftest import BackendProcess, sign_up

pytestmark = pytest.mark.postgres


async def _session(url: str, token: str | None, work: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        return await work(client)


def run(backend: BackendProcess, token: str | None, work: Any) -> Any:
    return asyncio.run(_session(backend.base_url + "/api/mcp", token, work))


def test_tools_over_http(live_backend: BackendProcess, postgres_url: str) -> None:
    with httpx.Client(base_url=live_backend.base_url, timeout=60) as http:
        alice, bob = sign_up(http), sign_up(http)

    async def work(client: Client) -> dict[str, Any]:
        tools = await client.list_tools()
        added = await client.call_tool("add_task", {"title": "buy milk", "due_date": "2026-12-24"})
        assert not added.is_error, added
        task_id = added.structured_content["id"]
        second = await client.call_tool("add_task", {"title": "call mom"})
        listed = await client.call_tool("list_tasks", {})
        completed = await client.call_tool("complete_task", {"task_id": task_id})
        pending = await client.call_tool("list_tasks", {"status": "pending"})
        updated = await client.call_tool(
            "update_task", {"task_id": task_id, "title": "buy oat milk", "completed": False}
        )
        deleted = await client.call_tool("delete_task", {"task_id": second.structured_content["id"]})
        missing = await client.call_tool("complete_task", {"task_id": 999999})
        bad_date = await client.call_tool("add_task", {"title": "x", "due_date": "someday"})
        return {
            "tools": sorted(t.name for t in tools.tools),
            "added": added,
            "listed": listed,
            "completed": completed,
            "pending": pending,
            "updated": updated,
            "deleted": deleted,
            "missing": missing,
            "bad_date": bad_date,
            "task_id": task_id,
        }

    r = run(live_backend, alice.token, work)
    assert r["tools"] == ["add_task", "complete_task", "delete_task", "list_tasks", "update_task"]
    assert r["added"].structured_content["due_date"] == "2026-12-24"
    assert r["listed"].structured_content["count"] == 2
    assert r["completed"].structured_content["completed"] is True
    assert [t["title"] for t in r["pending"].structured_content["tasks"]] == ["call mom"]
    assert (r["updated"].structured_content["title"], r["updated"].structured_content["completed"]) == (
        "buy oat milk",
        False,
    )
    assert r["deleted"].structured_content["deleted"] is True
    assert r["missing"].is_error and "task 999999 not found" in r["missing"].content[0].text
    assert r["bad_date"].is_error and "due_date" in r["bad_date"].content[0].text
    with psycopg.connect(postgres_url) as conn:
        stored = conn.execute("SELECT user_id, title, completed FROM tasks ORDER BY id").fetchall()
    assert stored == [(alice.id, "buy oat milk", False)]

    # Bob's session acts for Bob: he sees nothing of Alice's and cannot touch her task.
    async def as_bob(client: Client) -> tuple[Any, Any, Any]:
        return (
            await client.call_tool("list_tasks", {}),
            await client.call_tool("delete_task", {"task_id": r["task_id"]}),
            await client.call_tool("update_task", {"task_id": r["task_id"], "title": "pwned"}),
        )

    listed, deleted, updated = run(live_backend, bob.token, as_bob)
    assert listed.structured_content["count"] == 0
    assert deleted.is_error and updated.is_error
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT title FROM tasks").fetchall() == [("buy oat milk",)]


@pytest.mark.parametrize("token", [None, "forged.token.value"])
def test_mcp_endpoint_requires_a_valid_bearer_token(live_backend: BackendProcess, token: str | None) -> None:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    response = httpx.post(
        live_backend.base_url + "/api/mcp",
        headers=headers,
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
    )
    assert response.status_code == 401
    assert "token" in response.json()["detail"] or "Authorization" in response.json()["detail"]
    with pytest.raises(Exception):  # noqa: B017 - the SDK wraps the 401 in its own error types
        run(live_backend, token, lambda client: client.list_tools())


def test_mcp_endpoint_answers_odd_requests_without_hanging(live_backend: BackendProcess) -> None:
    with httpx.Client(base_url=live_backend.base_url, timeout=15) as http:
        user = sign_up(http)
        headers = {**user.headers, "Accept": "application/json, text/event-stream"}
        for method in ("GET", "DELETE", "PUT"):
            response = http.request(method, "/api/mcp", headers=headers)
            assert response.status_code == 405, (method, response.text)
            assert response.headers["allow"] == "POST"
        malformed = http.post("/api/mcp", content=b"{bad", headers={**headers, "Content-Type": "application/json"})
        assert malformed.status_code == 400
        assert malformed.json()["error"]["code"] == -32700  # JSON-RPC parse error


def test_mcp_refuses_the_token_of_a_user_that_does_not_exist(live_backend: BackendProcess) -> None:
    """Signed with the right secret but naming no user: REST answers 401, and so must MCP, before any
    MCP method (initialize, tools/list) is served."""
    from app.security import TokenIssuer

    from .live import JWT_SECRET

    token, _ = TokenIssuer(JWT_SECRET, 5).issue(424242)
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    assert httpx.get(live_backend.base_url + "/api/tasks", headers=headers).status_code == 401
    for method in ("initialize", "tools/list"):
        params = (
            {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
            if method == "initialize"
            else {}
        )
        response = httpx.post(
            live_backend.base_url + "/api/mcp",
            headers=headers,
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
        )
        assert response.status_code == 401, (method, response.text)
        assert "no longer exists" in response.json()["detail"]
        assert response.headers["www-authenticate"] == "Bearer"

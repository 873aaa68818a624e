"""MCP server exposing the task tools (official MCP Python SDK, high-level ``MCPServer``).

Two ways in, one set of tools:
- outside MCP clients use streamable HTTP at ``/api/mcp`` with ``Authorization: Bearer <jwt>``;
  every tool call acts for the user that token names;
- the chat agent connects in-process (``mcp.Client(server)``) after :func:`acting_as` has named the
  signed-in user, so it calls exactly the same tool functions.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import Receive, Scope, Send

from app.db import Database, DatabaseTimeout
from app.models import User
from app.schemas import SafeStr
from app.security import TokenError, TokenIssuer, bearer_token
from app.tasks import TaskInvalid, TaskNotFound, TaskPage, TaskService

TOOL_NAMES = ("add_task", "list_tasks", "complete_task", "delete_task", "update_task")
MCP_PAGE_DEFAULT = 100

# Set only by in-process callers (the chat agent); HTTP callers are identified by their token.
_in_process_user: contextvars.ContextVar[int | None] = contextvars.ContextVar("todo_mcp_user", default=None)


@contextmanager
def acting_as(user_id: int) -> Iterator[None]:
    """Name the user for in-process MCP sessions opened inside this block."""
    token = _in_process_user.set(user_id)
    try:
        yield
    finally:
        _in_process_user.reset(token)


def build_mcp_server(db: Database, tokens: TokenIssuer) -> MCPServer:
    server = MCPServer(
        name="todo-tasks",
        version="0.1.0",
        instructions=(
            "Manage the signed-in user's todo list. Task ids come from list_tasks. Dates are ISO format (YYYY-MM-DD)."
        ),
    )

    def user_for(ctx: Context) -> int:
        request = ctx.request_context.request if ctx is not None else None
        if request is not None:
            try:
                return tokens.user_id(bearer_token(request.headers.get("authorization")))
            except TokenError as exc:
                raise ToolError(f"unauthorized: {exc}") from None
        user_id = _in_process_user.get()
        if user_id is None:
            raise ToolError("unauthorized: no signed-in user for this MCP session")
        return user_id

    async def run(ctx: Context, work: Callable[[TaskService], Any]) -> Any:
        user_id = user_for(ctx)

        def in_session() -> Any:
            with db.session() as session:
                if session.scalar(select(User.id).where(User.id == user_id)) is None:
                    raise ToolError("unauthorized: the user of this token no longer exists")
                return work(TaskService(session, user_id))

        try:
            return await anyio.to_thread.run_sync(in_session)
        except TaskNotFound as exc:
            raise ToolError(f"{exc}; call list_tasks to see the ids you can use") from None
        except TaskInvalid as exc:
            raise ToolError(str(exc)) from None

    @server.tool(description="Add a task to the user's list. due_date is optional, ISO format YYYY-MM-DD.")
    async def add_task(
        title: SafeStr, ctx: Context, description: SafeStr | None = None, due_date: SafeStr | None = None
    ) -> dict[str, Any]:
        return await run(ctx, lambda tasks: tasks.add(title, description, due_date))

    @server.tool(
        description=(
            "List the user's tasks in id order. status: 'all' (default), 'pending' or 'completed'. "
            "search keeps titles containing all of its words. At most `limit` tasks (default 100) from "
            "`offset` are returned; `total` is how many match in all, and `next_offset` (null on the last "
            "page) is the offset to pass for the next page."
        )
    )
    async def list_tasks(
        ctx: Context,
        status: SafeStr = "all",
        limit: int = MCP_PAGE_DEFAULT,
        offset: int = 0,
        search: SafeStr | None = None,
    ) -> dict[str, Any]:
        page: TaskPage = await run(ctx, lambda tasks: tasks.page(status, limit, offset, search))
        return {
            "status": status,
            "total": page.total,
            "count": len(page.tasks),
            "offset": page.offset,
            "next_offset": page.next_offset,
            "tasks": page.tasks,
        }

    @server.tool(description="Mark a task as completed by its id.")
    async def complete_task(task_id: int, ctx: Context) -> dict[str, Any]:
        return await run(ctx, lambda tasks: tasks.set_completed(task_id, True))

    @server.tool(description="Delete a task by its id.")
    async def delete_task(task_id: int, ctx: Context) -> dict[str, Any]:
        deleted = await run(ctx, lambda tasks: tasks.delete(task_id))
        return {"deleted": True, "task": deleted}

    @server.tool(
        description=(
            "Change a task: any of title, description, due_date (YYYY-MM-DD, empty string clears it) "
            "and completed (true/false, e.g. to reopen a task). Omitted fields stay as they are."
        )
    )
    async def update_task(
        task_id: int,
        ctx: Context,
        title: SafeStr | None = None,
        description: SafeStr | None = None,
        due_date: SafeStr | None = None,
        completed: bool | None = None,
    ) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if title is not None:
            changes["title"] = title
        if description is not None:
            changes["description"] = description
        if due_date is not None:
            changes["due_date"] = due_date or None
        if completed is not None:
            changes["completed"] = completed
        if not changes:
            raise ToolError("nothing to change: pass title, description, due_date or completed")
        return await run(ctx, lambda tasks: tasks.update(task_id, changes))

    return server


class McpHttpEndpoint:
    """ASGI endpoint for ``/api/mcp``: refuses requests without a valid bearer token (401 with a
    clear JSON message) and hands the rest to the SDK's streamable HTTP session manager.

    Stateless JSON mode: every POST stands alone, so any replica can answer any request."""

    def __init__(self, server: MCPServer, tokens: TokenIssuer, db: Database) -> None:
        # Building the SDK app creates the session manager; we call it directly (no second router).
        server.streamable_http_app(
            streamable_http_path="/",
            stateless_http=True,
            json_response=True,
            # Bearer tokens, not cookies, authenticate here, so DNS rebinding gains an attacker nothing;
            # the Host header differs per ingress, so the SDK's localhost-only check would refuse real traffic.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self.session_manager = server.session_manager
        self.tokens = tokens
        self.db = db

    def _user_exists(self, user_id: int) -> bool:
        with self.db.session() as session:
            return session.scalar(select(User.id).where(User.id == user_id)) is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        try:
            user_id = self.tokens.user_id(bearer_token(headers.get("authorization")))
        except TokenError as exc:
            await _json_response(send, 401, {"detail": str(exc)}, [(b"www-authenticate", b"Bearer")])
            return
        # The same rule as REST (app.api.deps.signed_in): a valid signature is not enough, the user must exist.
        try:
            exists = await anyio.to_thread.run_sync(self._user_exists, user_id)
        except (SQLAlchemyError, DatabaseTimeout):
            await _json_response(
                send, 503, {"detail": "database unavailable; try again shortly"}, [(b"retry-after", b"2")]
            )
            return
        if not exists:
            detail = "the user of this token no longer exists; sign up or sign in again"
            await _json_response(send, 401, {"detail": detail}, [(b"www-authenticate", b"Bearer")])
            return
        if scope["method"] != "POST":
            # Stateless JSON mode pushes nothing, so a GET event stream would only stay open (and hold up
            # graceful shutdown); the MCP spec lets servers without one answer 405.
            detail = "this MCP endpoint is stateless: send JSON-RPC messages with POST"
            await _json_response(send, 405, {"detail": detail}, [(b"allow", b"POST")])
            return
        await self.session_manager.handle_request(scope, receive, send)


async def _json_response(send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})

"""The OpenAI mode's wiring: Agents SDK -> function tools -> in-process MCP session -> database.

OpenAI's API cannot be reached from CI or offline machines, so a small HTTP server on loopback
speaks the Chat Completions protocol in its place: it checks that the five MCP tools were offered,
asks for one ``add_task`` call, then checks the tool's result came back before answering. The agent,
the SDK, the MCP session and PostgreSQL are all real.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import psycopg
import pytest
from app.main import create_app
from fastapi.testclient import TestClient

from .conftest import make_settings, sign_up, wait_ready

pytestmark = pytest.mark.postgres


class ChatCompletionsPeer(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        tool_results = [m for m in body["messages"] if m.get("role") == "tool"]
        if not tool_results:
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "add_task", "arguments": json.dumps({"title": "buy milk"})},
                    }
                ],
            }
            finish = "tool_calls"
        else:
            added = json.loads(tool_results[-1]["content"])
            message = {"role": "assistant", "content": f"Added task #{added['id']}: {added['title']}."}
            finish = "stop"
        payload = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_openai_mode_calls_the_mcp_tools(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ChatCompletionsPeer.requests = []
    peer = ThreadingHTTPServer(("127.0.0.1", 0), ChatCompletionsPeer)
    threading.Thread(target=peer.serve_forever, daemon=True).start()
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{peer.server_address[1]}/v1")
    try:
        settings = make_settings(postgres_url, openai_api_key="sk-test-key", openai_model="gpt-test")
        with TestClient(create_app(settings)) as client:
            wait_ready(client.get)
            user = sign_up(client)
            response = client.post("/api/chat", json={"message": "please add buy milk"}, headers=user.headers)
    finally:
        peer.shutdown()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "openai"
    assert [c["name"] for c in body["tool_calls"]] == ["add_task"]
    task_id = body["tool_calls"][0]["result"]["id"]
    assert body["reply"] == f"Added task #{task_id}: buy milk."
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT user_id, title FROM tasks").fetchall() == [(user.id, "buy milk")]

    first, second = ChatCompletionsPeer.requests
    assert first["path"] == "/v1/chat/completions"
    assert first["auth"] == "Bearer sk-test-key"
    assert first["body"]["model"] == "gpt-test"
    offered = sorted(t["function"]["name"] for t in first["body"]["tools"])
    assert offered == ["add_task", "complete_task", "delete_task", "list_tasks", "update_task"]
    assert first["body"]["messages"][-1] == {"role": "user", "content": "please add buy milk"}
    assert any(m.get("role") == "tool" for m in second["body"]["messages"])

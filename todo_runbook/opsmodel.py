"""The offline operations model: an OpenAI-compatible chat-completions server on loopback.

Agents (kagent's runtime, kubectl-ai) talk to it as to any OpenAI-compatible model. It answers with
the rules of opsrules.py: the first turn asks for read-only kubectl tool calls, a later turn reads the
tool results and writes a short answer. Both response forms agents use are served: a plain JSON
completion with `message.tool_calls`, and a stream (SSE) whose tool-call chunk is followed by a chunk
with an empty delta and finish_reason "tool_calls", then `data: [DONE]`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .opsrules import OFFLINE_LABEL, OFFLINE_MODEL, ToolResult, answer, change_calls, read_calls


@dataclass
class Turn:
    """What the model decided for one request: tool calls, or a final text."""

    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text_of(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content)
    return "" if content is None else str(content)


def _tool_output(content: Any) -> str:
    """A tool message's text: MCP results arrive as JSON ({"content": [{"type": "text", "text": ...}]})."""
    text = _text_of(content)
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text
    texts: list[str] = []
    strings: list[str] = []

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, item in value.items():
                walk(item, k)
        elif isinstance(value, list):
            for item in value:
                walk(item, key)
        elif isinstance(value, str):
            (texts if key == "text" else strings).append(value)

    walk(data)
    # MCP puts the output in content[].text (and may repeat it in structuredContent): take it once.
    texts = texts or strings[:1]
    return "\n".join(texts) if texts else text


def _kubectl_tool(tools: list[dict[str, Any]]) -> tuple[str, str, bool] | None:
    """(tool name, argument name, argument is a list) of the kubectl tool the agent offers."""
    for tool in tools or []:
        fn = tool.get("function") or {}
        if "kubectl" in fn.get("name", ""):
            props = (fn.get("parameters") or {}).get("properties") or {}
            arg = next(iter(props), "command")
            is_list = (props.get(arg) or {}).get("type") == "array"
            return fn["name"], arg, is_list
    return None


def decide(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Turn:
    """The rules applied to a conversation: next tool calls, or the final answer."""
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    prompt = _text_of(messages[last_user].get("content")) if last_user >= 0 else ""
    asked: dict[str, str] = {}
    results: list[ToolResult] = []
    for message in messages[last_user + 1:]:
        for call in message.get("tool_calls") or []:
            fn = call.get("function") or {}
            try:
                args = json.loads(fn.get("arguments") or "{}")
            except json.JSONDecodeError:
                args = {}
            value = next(iter(args.values()), "") if isinstance(args, dict) else ""
            command = " ".join(value) if isinstance(value, list) else str(value)
            asked[call.get("id", "")] = command.removeprefix("kubectl ").strip()
        if message.get("role") == "tool":
            command = asked.get(message.get("tool_call_id", ""), "")
            results.append(ToolResult(command, _tool_output(message.get("content"))))
    tool = _kubectl_tool(tools)
    if tool is None:
        return Turn(text=f"[{OFFLINE_LABEL}]\nNo kubectl tool was offered to me, so I cannot look at the cluster.")
    if not results:
        commands = read_calls(prompt)
    else:
        done = {r.command for r in results}
        commands = [c for c in change_calls(prompt, results) if c not in done]
    if not commands:
        return Turn(text=answer(prompt, results))
    name, arg, is_list = tool
    # Commands carry the leading `kubectl`: kubectl-ai's tool runs them in a shell; ours strips it.
    calls = [{"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
              "function": {"name": name, "arguments": json.dumps({arg: ["kubectl", *c.split()] if is_list
                                                                  else f"kubectl {c}"})}}
             for c in commands]
    return Turn(tool_calls=calls)


def completion(turn: Turn, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": turn.text or None}
    if turn.tool_calls:
        message["tool_calls"] = turn.tool_calls
    return {"id": f"chatcmpl-{uuid.uuid4().hex[:16]}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "system_fingerprint": OFFLINE_LABEL,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": "tool_calls" if turn.tool_calls else "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}


def chunks(turn: Turn, model: str) -> Iterator[dict[str, Any]]:
    """The streaming form: content or tool-call chunk, then an empty delta with the finish reason."""
    base = {"id": f"chatcmpl-{uuid.uuid4().hex[:16]}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model, "system_fingerprint": OFFLINE_LABEL}
    if turn.tool_calls:
        delta: dict[str, Any] = {"role": "assistant", "content": None,
                                 "tool_calls": [{"index": i, **call} for i, call in enumerate(turn.tool_calls)]}
    else:
        delta = {"role": "assistant", "content": turn.text}
    yield {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]}
    yield {**base, "choices": [{"index": 0, "delta": {}, "logprobs": None,
                                "finish_reason": "tool_calls" if turn.tool_calls else "stop"}],
           "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the server keeps its own request log
        return

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send_json(200, {"object": "list", "data": [
                {"id": OFFLINE_MODEL, "object": "model", "created": 0, "owned_by": OFFLINE_LABEL}]})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        try:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            turn = decide(request.get("messages") or [], request.get("tools") or [])
        except (json.JSONDecodeError, AttributeError, TypeError) as exc:
            self._send_json(400, {"error": {"message": f"bad request: {exc}", "type": "invalid_request_error"}})
            return
        model = request.get("model") or OFFLINE_MODEL
        self.server.record(request, turn)
        if not request.get("stream"):
            self._send_json(200, completion(turn, model))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for chunk in chunks(turn, model):
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.log: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, request: dict[str, Any], turn: Turn) -> None:
        with self._lock:
            self.log.append({"stream": bool(request.get("stream")),
                             "tool_calls": [c["function"]["arguments"] for c in turn.tool_calls],
                             "final": bool(turn.text)})


class OpsModelServer:
    """Start with `with OpsModelServer() as model:`; `model.base_url` is what an OpenAI client needs."""

    label = OFFLINE_LABEL
    model = OFFLINE_MODEL

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port))
        self._thread = threading.Thread(target=self._server.serve_forever, name="opsmodel", daemon=True)

    @property
    def base_url(self) -> str:
        address = self._server.server_address
        return f"http://{address[0]!s}:{int(address[1])}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        return list(self._server.log)

    def start(self) -> OpsModelServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OpsModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

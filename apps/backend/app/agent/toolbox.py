"""The agent's side of the MCP connection: calls tools through a real MCP client session and
records every call (name, arguments, result) for the chat response and the message history."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from mcp import Client


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any]
    result: Any
    is_error: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ToolResult:
    ok: bool
    data: Any
    error: str | None = None


@dataclass
class McpToolbox:
    client: Client
    calls: list[ToolCall] = field(default_factory=list)

    async def list_tool_specs(self) -> list[dict[str, Any]]:
        result = await self.client.list_tools()
        return [
            {"name": t.name, "description": t.description or "", "input_schema": t.input_schema} for t in result.tools
        ]

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        result = await self.client.call_tool(name, arguments)
        text = "\n".join(getattr(block, "text", "") for block in result.content).strip()
        if result.is_error:
            self.calls.append(ToolCall(name, arguments, {"error": text}, is_error=True))
            return ToolResult(ok=False, data=None, error=text or f"{name} failed")
        data: Any = result.structured_content
        if data is None and text:
            try:
                data = json.loads(text)
            except ValueError:
                data = text
        self.calls.append(ToolCall(name, arguments, data))
        return ToolResult(ok=True, data=data)

"""The online agent: the OpenAI Agents SDK drives the conversation; its tools are the MCP tools,
called through the same in-process MCP client session the offline agent uses."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from app.agent.toolbox import McpToolbox

INSTRUCTIONS = (
    "You are a helpful assistant that manages the user's todo list with the provided tools. "
    "Always use the tools to read or change tasks; never invent task ids (call list_tasks first). "
    "list_tasks returns one page: 'total' is the true number of tasks and 'next_offset' fetches the next page; "
    "use its 'search' argument to find tasks by name among all of them. Change, complete or delete a task only "
    "when exactly one task matches what the user said (its id, its full title, or all its words); when several "
    "could match, list them and ask which one. "
    "Dates are ISO (YYYY-MM-DD); today is {today}. Confirm what you did in one or two short sentences."
)


class OpenAIAgent:
    mode = "openai"

    def __init__(self, toolbox: McpToolbox, api_key: str, model: str) -> None:
        self.toolbox = toolbox
        self.api_key = api_key
        self.model = model

    async def _function_tools(self) -> list[Any]:
        from agents import FunctionTool

        tools = []
        for spec in await self.toolbox.list_tool_specs():
            name = spec["name"]

            async def invoke(_ctx: Any, raw_args: str, _name: str = name) -> str:
                try:
                    arguments = json.loads(raw_args or "{}")
                except ValueError:
                    return "error: arguments were not valid JSON"
                result = await self.toolbox.call(_name, arguments)
                return json.dumps(result.data) if result.ok else f"error: {result.error}"

            tools.append(
                FunctionTool(
                    name=name,
                    description=spec["description"],
                    params_json_schema=spec["input_schema"],
                    on_invoke_tool=invoke,
                    strict_json_schema=False,
                )
            )
        return tools

    async def respond(self, message: str, history: list[dict[str, str]]) -> str:
        from agents import Agent, OpenAIChatCompletionsModel, Runner, set_tracing_disabled
        from openai import AsyncOpenAI

        set_tracing_disabled(True)  # traces would leave the cluster with the user's messages
        client = AsyncOpenAI(api_key=self.api_key, max_retries=1, timeout=30.0)
        agent = Agent(
            name="todo-assistant",
            instructions=INSTRUCTIONS.format(today=dt.date.today().isoformat()),
            model=OpenAIChatCompletionsModel(model=self.model, openai_client=client),
            tools=await self._function_tools(),
        )
        items = [{"role": m["role"], "content": m["content"]} for m in history]
        items.append({"role": "user", "content": message})
        result = await Runner.run(agent, input=items, max_turns=8)
        return str(result.final_output or "").strip() or "Done."

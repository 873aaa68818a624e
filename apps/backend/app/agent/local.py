"""The offline agent: parse the message into an intent, then act through the MCP tools."""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.agent.intents import HELP_TEXT, Intent, TaskRef, parse_intent
from app.agent.toolbox import McpToolbox


def _describe(task: dict[str, Any]) -> str:
    due = f", due {task['due_date']}" if task.get("due_date") else ""
    return f'#{task["id"]} "{task["title"]}"{due}'


def _format_list(tasks: list[dict[str, Any]], status: str) -> str:
    label = {"pending": "pending tasks", "completed": "completed tasks"}.get(status, "tasks")
    if not tasks:
        return (
            "Your list is empty. Add one with 'add buy milk tomorrow'." if status == "all" else f"You have no {label}."
        )
    lines = [f"You have {len(tasks)} {label if len(tasks) != 1 else label[:-1]}:"]
    for task in tasks:
        mark = "[x]" if task["completed"] else "[ ]"
        lines.append(f"{mark} {_describe(task)}")
    return "\n".join(lines)


class LocalAgent:
    mode = "local"

    def __init__(self, toolbox: McpToolbox, today: dt.date | None = None) -> None:
        self.toolbox = toolbox
        self.today = today or dt.date.today()

    async def respond(self, message: str) -> str:
        intent = parse_intent(message, self.today)
        handler = getattr(self, f"_do_{intent.kind}")
        return await handler(intent)

    async def _do_help(self, intent: Intent) -> str:
        return HELP_TEXT

    async def _do_unknown(self, intent: Intent) -> str:
        return "Sorry, I didn't understand that. " + HELP_TEXT

    async def _do_add(self, intent: Intent) -> str:
        args: dict[str, Any] = {"title": intent.title}
        if intent.due_date:
            args["due_date"] = intent.due_date.isoformat()
        result = await self.toolbox.call("add_task", args)
        if not result.ok:
            return f"I couldn't add that task: {result.error}"
        return f"Added {_describe(result.data)}."

    async def _do_list(self, intent: Intent) -> str:
        result = await self.toolbox.call("list_tasks", {"status": intent.status})
        if not result.ok:
            return f"I couldn't read your list: {result.error}"
        return _format_list(result.data["tasks"], intent.status)

    async def _resolve(self, ref: TaskRef, prefer_completed: bool | None) -> tuple[int | None, str | None]:
        """Turn a reference into a task id, or explain why it cannot (no match, several matches)."""
        if ref.task_id is not None:
            return ref.task_id, None
        words = (ref.words or "").lower()
        result = await self.toolbox.call("list_tasks", {"status": "all"})
        if not result.ok:
            return None, f"I couldn't read your list: {result.error}"
        tasks: list[dict[str, Any]] = result.data["tasks"]
        exact = [t for t in tasks if t["title"].lower() == words]
        matches = exact or [t for t in tasks if words in t["title"].lower()]
        if not matches:
            tokens = words.split()
            matches = [t for t in tasks if tokens and all(tok in t["title"].lower() for tok in tokens)]
        if len(matches) > 1 and prefer_completed is not None:
            preferred = [t for t in matches if t["completed"] == prefer_completed]
            matches = preferred or matches
        if not matches:
            return None, f"I couldn't find a task matching \"{ref.words}\". Say 'what's on my list' to see your tasks."
        if len(matches) > 1:
            options = ", ".join(_describe(t) for t in matches[:5])
            return (
                None,
                f'Several tasks match "{ref.words}": {options}. '
                f"Which one? Use its number, e.g. 'mark {matches[0]['id']} done'.",
            )
        return matches[0]["id"], None

    async def _act_on(
        self, intent: Intent, tool: str, extra: dict[str, Any], prefer_completed: bool | None
    ) -> tuple[dict[str, Any] | None, str | None]:
        assert intent.ref is not None
        task_id, problem = await self._resolve(intent.ref, prefer_completed)
        if task_id is None:
            return None, problem
        result = await self.toolbox.call(tool, {"task_id": task_id, **extra})
        if not result.ok:
            return None, f"I couldn't do that: {result.error}"
        return result.data, None

    async def _do_complete(self, intent: Intent) -> str:
        task, problem = await self._act_on(intent, "complete_task", {}, prefer_completed=False)
        return problem or f"Marked {_describe(task)} as done."  # type: ignore[arg-type]

    async def _do_uncomplete(self, intent: Intent) -> str:
        task, problem = await self._act_on(intent, "update_task", {"completed": False}, prefer_completed=True)
        return problem or f"Marked {_describe(task)} as not done."  # type: ignore[arg-type]

    async def _do_delete(self, intent: Intent) -> str:
        data, problem = await self._act_on(intent, "delete_task", {}, prefer_completed=None)
        return problem or f"Deleted {_describe(data['task'])}."  # type: ignore[index]

    async def _do_rename(self, intent: Intent) -> str:
        task, problem = await self._act_on(intent, "update_task", {"title": intent.title}, prefer_completed=None)
        return problem or f'Renamed task #{task["id"]} to "{task["title"]}".'  # type: ignore[index]

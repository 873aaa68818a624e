"""The offline agent: parse the message into an intent, then act through the MCP tools."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from app.agent.intents import HELP_TEXT, LIST_PAGE, Intent, TaskRef, parse_intent
from app.agent.toolbox import McpToolbox


def _describe(task: dict[str, Any]) -> str:
    due = f", due {task['due_date']}" if task.get("due_date") else ""
    return f'#{task["id"]} "{task["title"]}"{due}'


LOOKUP_PAGE = 500
# A list reply that has a next page ends with this phrase; 'show more' repeats the one in the latest list reply.
NEXT_PAGE = re.compile(r"say 'show more' or '([^']+)' for the next")
LIST_REPLY = re.compile(r"^(?:You have \d+ |Your list is empty|You have no )")
# Words that say nothing about which task is meant ("delete a" must not pick the task with an "a" in it).
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "my",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "and",
        "or",
        "with",
        "from",
        "by",
        "is",
        "it",
        "this",
        "that",
        "task",
        "item",
        "todo",
        "one",
    ]
)


def _range_phrase(status: str, first: int, last: int) -> str:
    kind = f"{status} tasks" if status in ("pending", "completed") else "tasks"
    return f"show {kind} {first}-{last}"


def _format_list(page: dict[str, Any], status: str, offset: int = 0) -> str:
    label = {"pending": "pending tasks", "completed": "completed tasks"}.get(status, "tasks")
    tasks: list[dict[str, Any]] = page["tasks"]
    total = int(page.get("total", len(tasks)))
    if not total:
        return (
            "Your list is empty. Add one with 'add buy milk tomorrow'." if status == "all" else f"You have no {label}."
        )
    header = f"You have {total} {label if total != 1 else label[:-1]}"
    if not tasks:
        start = _range_phrase(status, 1, min(total, LIST_PAGE))
        return f"{header}, fewer than {offset + 1}. Say '{start}' to start from the top."
    lines = [f"{header}:"]
    for task in tasks:
        mark = "[x]" if task["completed"] else "[ ]"
        lines.append(f"{mark} {_describe(task)}")
    first, last = offset + 1, offset + len(tasks)
    if last < total:
        following = _range_phrase(status, last + 1, min(total, last + LIST_PAGE))
        lines.append(
            f"(showing {first}-{last} of {total}; say 'show more' or '{following}' for the next; "
            "name a task or use its number to act on it)"
        )
    elif first > 1:
        lines.append(f"(showing {first}-{last} of {total}: the end of the list)")
    return "\n".join(lines)


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


class LocalAgent:
    mode = "local"

    def __init__(
        self, toolbox: McpToolbox, today: dt.date | None = None, history: list[dict[str, str]] | None = None
    ) -> None:
        self.toolbox = toolbox
        self.today = today or dt.date.today()
        self.history = history or []  # earlier messages of this conversation, oldest first

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
        args = {"status": intent.status, "limit": intent.count, "offset": intent.offset}
        result = await self.toolbox.call("list_tasks", args)
        if not result.ok:
            return f"I couldn't read your list: {result.error}"
        return _format_list(result.data, intent.status, intent.offset)

    async def _do_more(self, intent: Intent) -> str:
        """The next page of the latest list reply in this conversation (its footer names it)."""
        for message in reversed(self.history):
            if message.get("role") != "assistant" or not LIST_REPLY.match(message.get("content", "")):
                continue
            following = NEXT_PAGE.search(message["content"])
            if following is None:
                break  # the latest list was shown to its end
            return await self._do_list(parse_intent(following.group(1), self.today))
        return "There is nothing more to show. Say 'what's on my list' to see your tasks from the top."

    async def _candidates(self, search: str) -> tuple[list[dict[str, Any]], str | None]:
        """Every task whose title contains all words of `search`, across all pages."""
        found: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None:
            args = {"status": "all", "search": search, "limit": LOOKUP_PAGE, "offset": offset}
            result = await self.toolbox.call("list_tasks", args)
            if not result.ok:
                return [], f"I couldn't read your list: {result.error}"
            found.extend(result.data["tasks"])
            offset = result.data.get("next_offset")
        return found, None

    async def _resolve(self, ref: TaskRef) -> tuple[int | None, str | None]:
        """Turn a reference into a task id only when it is unambiguous: an id, the whole title, or a
        title holding every meaningful word of the reference as a whole word and no other task
        doing so. Otherwise explain (no match, or the candidates to choose from)."""
        if ref.task_id is not None:
            return ref.task_id, None
        said = _words(ref.words or "")
        meaningful = [w for w in said if w not in STOPWORDS and len(w) > 1]
        tasks, problem = await self._candidates(" ".join(meaningful or said))
        if problem:
            return None, problem
        exact = [t for t in tasks if _words(t["title"]) == said]
        matches = exact or [t for t in tasks if meaningful and set(meaningful) <= set(_words(t["title"]))]
        if len(matches) == 1:
            return matches[0]["id"], None
        if not matches:
            near = f" Tasks containing it: {', '.join(_describe(t) for t in tasks[:5])}." if tasks else ""
            return (
                None,
                f'I couldn\'t find a task called "{ref.words}".{near} '
                "Use the task's number (say 'what's on my list' to see them) or its full title.",
            )
        options = ", ".join(_describe(t) for t in matches[:5])
        more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
        return (
            None,
            f'Several tasks match "{ref.words}": {options}{more}. '
            f"Which one? Use its number, e.g. 'mark {matches[0]['id']} done'.",
        )

    async def _act_on(
        self, intent: Intent, tool: str, extra: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, str | None]:
        assert intent.ref is not None
        task_id, problem = await self._resolve(intent.ref)
        if task_id is None:
            return None, problem
        result = await self.toolbox.call(tool, {"task_id": task_id, **extra})
        if not result.ok:
            return None, f"I couldn't do that: {result.error}"
        return result.data, None

    async def _do_complete(self, intent: Intent) -> str:
        task, problem = await self._act_on(intent, "complete_task", {})
        return problem or f"Marked {_describe(task)} as done."  # type: ignore[arg-type]

    async def _do_uncomplete(self, intent: Intent) -> str:
        task, problem = await self._act_on(intent, "update_task", {"completed": False})
        return problem or f"Marked {_describe(task)} as not done."  # type: ignore[arg-type]

    async def _do_delete(self, intent: Intent) -> str:
        data, problem = await self._act_on(intent, "delete_task", {})
        return problem or f"Deleted {_describe(data['task'])}."  # type: ignore[index]

    async def _do_rename(self, intent: Intent) -> str:
        task, problem = await self._act_on(intent, "update_task", {"title": intent.title})
        return problem or f'Renamed task #{task["id"]} to "{task["title"]}".'  # type: ignore[index]

"""Deterministic intent parser for the offline agent: plain English in, a structured intent out.
Pure functions (no I/O), so every phrase it understands is unit-testable."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
LIST_PAGE = 100  # tasks written out in one chat reply; 'page 2' starts at the 101st

HELP_TEXT = (
    "I can manage your todo list. Try: 'add buy milk tomorrow', 'what's on my list', "
    "'mark 3 done', 'mark 3 not done', 'delete the milk task' or 'rename task 2 to call mom'."
)


@dataclass(frozen=True)
class TaskRef:
    """A task named by id ('3', '#3', 'task 3') or by words from its title ('the milk task')."""

    task_id: int | None = None
    words: str | None = None


@dataclass(frozen=True)
class Intent:
    kind: str  # add | list | more | complete | uncomplete | delete | rename | help | unknown
    title: str | None = None
    due_date: dt.date | None = None
    ref: TaskRef | None = None
    status: str = "all"
    offset: int = 0  # list: tasks to skip ('show tasks 101-200' skips 100)
    count: int = LIST_PAGE  # list: tasks to show, at most LIST_PAGE


def _normalize(text: str) -> str:
    text = " ".join(text.replace("\u2019", "'").split())
    return text.strip().rstrip(".!?").strip()


def parse_ref(text: str) -> TaskRef | None:
    value = text.strip().strip("\"'").strip()
    match = re.fullmatch(r"(?:task|item|number|no\.?)?\s*#?\s*(\d+)", value, re.IGNORECASE)
    if match:
        return TaskRef(task_id=int(match.group(1)))
    words = re.sub(r"^(?:the|my|a|an)\s+", "", value, flags=re.IGNORECASE)
    words = re.sub(r"\s+(?:task|item|todo|one)$", "", words, flags=re.IGNORECASE)
    words = re.sub(r"^(?:task|item|todo)\s+", "", words, flags=re.IGNORECASE)
    words = words.strip().strip("\"'").strip()
    return TaskRef(words=words) if words else None


def _coming_weekday(today: dt.date, weekday: int) -> dt.date:
    """The next date with that weekday, never today ('friday' said on a Friday means next week)."""
    return today + dt.timedelta(days=(weekday - today.weekday()) % 7 or 7)


_DUE_PATTERNS: list[tuple[str, str]] = [
    (r"(?:on|by|due)?\s*(\d{4}-\d{2}-\d{2})", "iso"),
    (r"(?:by|due)?\s*(today|tonight|this evening)", "today"),
    (r"(?:by|due)?\s*(tomorrow|tmrw|tmr)", "tomorrow"),
    (r"(?:by|due)?\s*the day after tomorrow", "day_after"),
    (r"(?:by|due)?\s*next week", "next_week"),
    (r"in (\d{1,3}) days?", "in_days"),
    (r"(?:on|by|due|this)?\s*(next\s+)?(" + "|".join(WEEKDAYS) + r")", "weekday"),
]


def split_due_date(text: str, today: dt.date) -> tuple[str, dt.date | None]:
    """Take a trailing due date phrase off a title: 'buy milk tomorrow' -> ('buy milk', tomorrow)."""
    for pattern, kind in _DUE_PATTERNS:
        match = re.search(r"(?:^|\s)" + pattern + r"$", text, re.IGNORECASE)
        if not match:
            continue
        due: dt.date | None
        if kind == "iso":
            try:
                due = dt.date.fromisoformat(match.group(1))
            except ValueError:
                continue
        elif kind == "today":
            due = today
        elif kind == "tomorrow":
            due = today + dt.timedelta(days=1)
        elif kind == "day_after":
            due = today + dt.timedelta(days=2)
        elif kind == "next_week":
            due = today + dt.timedelta(days=7)
        elif kind == "in_days":
            due = today + dt.timedelta(days=int(match.group(1)))
        else:
            due = _coming_weekday(today, WEEKDAYS.index(match.group(2).lower()))
        title = text[: match.start()].strip()
        if title:
            return title, due
    return text, None


_STATUS_WORDS = {
    "pending": r"pending|open|remaining|left|undone|unfinished|incomplete|not done|outstanding|to do|todo",
    "completed": r"completed|done|finished|complete",
}

_REF = r"(.+?)"
_DONE = r"(?:done|complete|completed|finished|checked|checked off)"
_NOT_DONE = r"(?:not done|undone|not complete|not completed|incomplete|pending|open|unfinished|to do)"

_RULES: list[tuple[str, str]] = [
    (r"(?:help|what can you do|how does this work|commands|\?)", "help"),
    (r"(?:hi|hello|hey|good (?:morning|afternoon|evening))(?: there)?", "help"),
    # rename
    (r"(?:rename|retitle|change|update|edit)\s+" + _REF + r"\s+(?:title\s+)?(?:to|as|into)\s+(.+)", "rename"),
    # No "call X Y" form: "call mom tomorrow" is a task, not a request to rename a task to "tomorrow".
    # uncomplete (before complete: 'mark 3 not done' contains 'done')
    (r"(?:mark|set|flag)\s+" + _REF + r"\s+(?:as\s+)?" + _NOT_DONE, "uncomplete"),
    (r"(?:uncomplete|reopen|re-open|undo|unmark|uncheck|untick)\s+" + _REF, "uncomplete"),
    # complete
    (r"(?:mark|set|flag|check off|tick off)\s+" + _REF + r"\s+(?:as\s+)?" + _DONE, "complete"),
    (
        r"(?:complete|finish|check off|tick off|done with|i (?:have |'ve )?(?:finished|completed|done))\s+" + _REF,
        "complete",
    ),
    (r"(?:check|tick)\s+" + _REF + r"\s+off", "complete"),
    (_REF + r"\s+(?:is\s+)?" + _DONE, "complete"),
    # delete
    (
        r"(?:delete|remove|drop|erase|cancel|get rid of|forget(?: about)?)\s+" + _REF + r"(?:\s+from (?:my|the) list)?",
        "delete",
    ),
]

_LIST_PATTERNS = [
    r"what'?s on my (?:todo |to-do |to do )?list",
    r"what(?: is|'s| do i have| are my| else)?\s*(?:on my plate|left|to do|pending|remaining|tasks|todos)",
    r"(?:list|show|display|view|see|get|print|read)(?:\s+me)?(?:\s+(?:all|my|the))*(?:\s+\w+)?\s*(?:tasks?|todos?|to-dos?|list|items)",
    r"(?:list|tasks|todos|my tasks|my list|show tasks|show list|all tasks|list tasks)",
    r"(?:do i have|are there) any\s+(?:\w+\s+)?(?:tasks|todos)",
    r"what do i (?:have to|need to|still need to) do(?: today)?",
]

# One page of a long list: 'show tasks 101-200', 'pending tasks from 201', 'page 3', 'show my tasks page 2'.
_SHOW = r"(?:(?:list|show|display|view|see|get|print|read|go to)(?:\s+me)?\s+)?(?:(?:all|my|the)\s+)*"
_KIND = r"(?:(?:pending|open|remaining|completed|done|finished)\s+)?(?:tasks?|todos?|to-dos?|items)"
_RANGE_PATTERNS = [
    _SHOW + _KIND + r"\s+#?(\d{1,9})\s*(?:-|–|to|through|thru|until)\s*#?(\d{1,9})",
    _SHOW + _KIND + r"\s+(?:from|starting (?:at|from|with))\s+#?(\d{1,9})(?:\s+on(?:wards?)?)?()",
]
_OF_LIST = r"(?:\s+of\s+(?:(?:my|the)\s+)*" + _KIND + r"|\s+of\s+(?:my|the) list)?"
_PAGE_PATTERNS = [_SHOW + r"(?:" + _KIND + r"\s+|list\s+)?page\s+(\d{1,6})" + _OF_LIST]
# The next page of the last list shown ('show more'); the local agent finds it in the conversation.
_MORE_PATTERN = (
    r"(?:(?:please\s+)?(?:show|list|display|give|get|see)(?:\s+me)?\s+)?(?:the\s+)?"
    r"(?:more|next|rest)(?:\s+(?:page|one|ones|tasks?|todos?|items))?(?:\s+please)?"
    r"|(?:more|next page)\s+please|continue|keep going|go on"
)

_ADD_PREFIX = (
    r"(?:please\s+)?(?:add|create|new|make|put|remember to|remind me to|i need to|i have to|i must|todo:?|to-do:?)"
    r"\s+(?:a\s+|an\s+)?(?:new\s+)?(?:task|todo|to-do|item|reminder)?\s*(?:to\s+|:\s*|called\s+|named\s+)?"
)


def _status_in(text: str) -> str:
    for status in ("pending", "completed"):  # 'not done' must win over 'done'
        if re.search(r"\b(?:" + _STATUS_WORDS[status] + r")\b", text, re.IGNORECASE):
            return status
    return "all"


def _page_of_list(lowered: str) -> Intent | None:
    """'show tasks 101-200' -> offset 100, count 100; 'page 3' -> offset 200; None when not such a request."""
    status = _status_in(lowered)
    for pattern in _RANGE_PATTERNS:
        match = re.fullmatch(pattern, lowered)
        if match:
            given = [int(match.group(1)), int(match.group(2) or match.group(1))]
            first, last = max(1, min(given)), max(1, max(given))
            if not match.group(2):  # 'from 201': one page from there
                last = first + LIST_PAGE - 1
            return Intent(kind="list", status=status, offset=first - 1, count=min(last - first + 1, LIST_PAGE))
    for pattern in _PAGE_PATTERNS:
        match = re.fullmatch(pattern, lowered)
        if match:
            return Intent(kind="list", status=status, offset=(max(1, int(match.group(1))) - 1) * LIST_PAGE)
    return None


def parse_intent(message: str, today: dt.date) -> Intent:
    text = _normalize(message)
    if not text:
        return Intent(kind="help")
    lowered = text.lower()
    for pattern, kind in _RULES:
        match = re.fullmatch(pattern, text, re.IGNORECASE)
        if not match:
            continue
        if kind == "help":
            return Intent(kind="help")
        if kind == "rename":
            ref = parse_ref(match.group(1))
            new_title = match.group(2).strip().strip("\"'").strip()
            if ref and new_title:
                return Intent(kind="rename", ref=ref, title=new_title)
            continue
        ref = parse_ref(match.group(1))
        if ref is None or (ref.words and ref.words.lower() in ("it", "that", "this", "all", "everything")):
            continue
        return Intent(kind=kind, ref=ref)
    paged = _page_of_list(lowered)
    if paged is not None:
        return paged
    if re.fullmatch(_MORE_PATTERN, lowered):
        return Intent(kind="more")
    for pattern in _LIST_PATTERNS:
        if re.fullmatch(pattern, lowered):
            # 'my to do list' names the list, it does not ask for pending tasks only.
            return Intent(kind="list", status=_status_in(re.sub(r"\b(?:todo|to do|to-do) list\b", "list", lowered)))
    match = re.fullmatch(_ADD_PREFIX + r"(.+)", text, re.IGNORECASE)
    if match:
        body = re.sub(
            r"\s+(?:to|on|onto|in)\s+(?:my|the)\s+(?:todo\s+|to-do\s+|task\s+)?list$",
            "",
            match.group(1),
            flags=re.IGNORECASE,
        )
        title, due = split_due_date(body.strip(), today)
        title = title.strip().strip("\"'").strip()
        if title:
            return Intent(kind="add", title=title, due_date=due)
    return Intent(kind="unknown")

"""The offline agent's parser: every supported phrasing maps to the right intent (pure logic)."""

from __future__ import annotations

import datetime as dt

import pytest
from app.agent.intents import LIST_PAGE, TaskRef, parse_intent, split_due_date

TODAY = dt.date(2026, 11, 26)  # a Thursday
TOMORROW = TODAY + dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("message", "title", "due"),
    [
        ("add buy milk tomorrow", "buy milk", TOMORROW),
        ("Add buy milk", "buy milk", None),
        ("add a task to call mom today", "call mom", TODAY),
        ("remind me to pay rent on 2026-12-01", "pay rent", dt.date(2026, 12, 1)),
        ("add water plants on friday", "water plants", dt.date(2026, 11, 27)),
        ("add water plants thursday", "water plants", dt.date(2026, 12, 3)),
        ("add renew passport in 10 days", "renew passport", TODAY + dt.timedelta(days=10)),
        ("add book flights next week", "book flights", TODAY + dt.timedelta(days=7)),
        ('add "read a book" to my list', "read a book", None),
        ("I need to fix the bike.", "fix the bike", None),
        ("create task: file taxes by tomorrow", "file taxes", TOMORROW),
    ],
)
def test_add(message: str, title: str, due: dt.date | None) -> None:
    intent = parse_intent(message, TODAY)
    assert (intent.kind, intent.title, intent.due_date) == ("add", title, due)


@pytest.mark.parametrize(
    ("message", "status"),
    [
        ("what's on my list", "all"),
        ("What’s on my todo list?", "all"),
        ("list", "all"),
        ("show my tasks", "all"),
        ("show my pending tasks", "pending"),
        ("list completed tasks", "completed"),
        ("what's left", "pending"),
        ("what do I need to do", "pending"),
    ],
)
def test_list(message: str, status: str) -> None:
    intent = parse_intent(message, TODAY)
    assert (intent.kind, intent.status) == ("list", status)


@pytest.mark.parametrize(
    ("message", "status", "offset", "count"),
    [
        ("show tasks 101-200", "all", 100, 100),
        ("Show tasks 101 - 200.", "all", 100, 100),
        ("tasks 101 to 200", "all", 100, 100),
        ("show pending tasks 201-300", "pending", 200, 100),
        ("list completed tasks 1-5", "completed", 0, 5),
        ("show tasks 200-101", "all", 100, 100),  # either order
        ("show tasks 5-0", "all", 0, 5),  # never before the first
        ("show tasks 1-500", "all", 0, LIST_PAGE),  # one reply shows at most a page
        ("show my tasks from 201", "all", 200, LIST_PAGE),
        ("show tasks starting at 301", "all", 300, LIST_PAGE),
        ("page 2", "all", LIST_PAGE, LIST_PAGE),
        ("show page 3", "all", 2 * LIST_PAGE, LIST_PAGE),
        ("page 2 of my pending tasks", "pending", LIST_PAGE, LIST_PAGE),
        ("completed tasks page 4", "completed", 3 * LIST_PAGE, LIST_PAGE),
        ("what's on my list", "all", 0, LIST_PAGE),  # no page named: the first
    ],
)
def test_a_page_of_the_list(message: str, status: str, offset: int, count: int) -> None:
    intent = parse_intent(message, TODAY)
    assert (intent.kind, intent.status, intent.offset, intent.count) == ("list", status, offset, count)


@pytest.mark.parametrize(
    "message", ["show more", "more", "More please", "next page", "next", "show me more", "show the rest", "more tasks"]
)
def test_show_more(message: str) -> None:
    assert parse_intent(message, TODAY).kind == "more"


def test_more_in_a_title_is_still_a_task_to_add() -> None:
    intent = parse_intent("add more milk", TODAY)
    assert (intent.kind, intent.title) == ("add", "more milk")


@pytest.mark.parametrize(
    ("message", "kind", "ref"),
    [
        ("mark 3 done", "complete", TaskRef(task_id=3)),
        ("mark task #3 as completed", "complete", TaskRef(task_id=3)),
        ("complete the milk task", "complete", TaskRef(words="milk")),
        ("finish 12", "complete", TaskRef(task_id=12)),
        ("buy milk is done", "complete", TaskRef(words="buy milk")),
        ("mark 3 not done", "uncomplete", TaskRef(task_id=3)),
        ("mark 3 as pending", "uncomplete", TaskRef(task_id=3)),
        ("reopen task 4", "uncomplete", TaskRef(task_id=4)),
        ("delete the milk task", "delete", TaskRef(words="milk")),
        ("remove #5", "delete", TaskRef(task_id=5)),
        ("delete task 7 from my list", "delete", TaskRef(task_id=7)),
    ],
)
def test_task_actions(message: str, kind: str, ref: TaskRef) -> None:
    intent = parse_intent(message, TODAY)
    assert (intent.kind, intent.ref) == (kind, ref)


@pytest.mark.parametrize(
    ("message", "ref", "title"),
    [
        ("rename task 2 to buy bread", TaskRef(task_id=2), "buy bread"),
        ("change 2 to call the bank", TaskRef(task_id=2), "call the bank"),
        ("rename the milk task to buy oat milk", TaskRef(words="milk"), "buy oat milk"),
    ],
)
def test_rename(message: str, ref: TaskRef, title: str) -> None:
    intent = parse_intent(message, TODAY)
    assert (intent.kind, intent.ref, intent.title) == ("rename", ref, title)


@pytest.mark.parametrize("message", ["hello", "help", "what can you do?", "", "   "])
def test_help(message: str) -> None:
    assert parse_intent(message, TODAY).kind == "help"


@pytest.mark.parametrize("message", ["what is the weather", "sing me a song", "delete it", "42"])
def test_unknown(message: str) -> None:
    assert parse_intent(message, TODAY).kind == "unknown"


def test_due_date_needs_a_title_left_over() -> None:
    assert split_due_date("tomorrow", TODAY) == ("tomorrow", None)
    assert split_due_date("plan 2026-13-45", TODAY) == ("plan 2026-13-45", None)

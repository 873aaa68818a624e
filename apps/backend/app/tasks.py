"""Task operations scoped to one user. REST routes and MCP tools both go through here, so the
rules (ownership, validation, what a task looks like on the wire) live in one place."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import DESCRIPTION_MAX, TITLE_MAX, Task

StatusFilter = Literal["all", "pending", "completed"]
STATUS_FILTERS: tuple[str, ...] = ("all", "pending", "completed")
LIST_LIMIT_MAX = 500


@dataclass(frozen=True)
class TaskPage:
    tasks: list[dict[str, Any]]
    total: int  # every task that matches, not only this page
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        """Where the next page starts, or None on the last page."""
        end = self.offset + len(self.tasks)
        return end if end < self.total else None


class TaskNotFound(LookupError):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"task {task_id} not found")
        self.task_id = task_id


class TaskInvalid(ValueError):
    """A field value is not acceptable; the message names the field."""


def task_to_dict(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "title": task.title,
        "description": task.description,
        "completed": task.completed,
        "due_date": task.due_date.isoformat() if task.due_date else None,
        "created_at": task.created_at.isoformat() if task.created_at else None,
        "updated_at": task.updated_at.isoformat() if task.updated_at else None,
        "completed_at": task.completed_at.isoformat() if task.completed_at else None,
    }


INT32_MAX = 2**31 - 1


def _no_nul(field_name: str, value: str) -> str:
    if "\x00" in value:
        raise TaskInvalid(f"{field_name} must not contain NUL characters")
    return value


def clean_title(title: str) -> str:
    value = " ".join(_no_nul("title", title).split())
    if not value:
        raise TaskInvalid("title must not be empty")
    if len(value) > TITLE_MAX:
        raise TaskInvalid(f"title is too long ({len(value)} characters, at most {TITLE_MAX})")
    return value


def clean_description(description: str | None) -> str | None:
    if description is None:
        return None
    value = _no_nul("description", description).strip()
    if len(value) > DESCRIPTION_MAX:
        raise TaskInvalid(f"description is too long ({len(value)} characters, at most {DESCRIPTION_MAX})")
    return value or None


def parse_due_date(value: str | dt.date | None) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    text = value.strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise TaskInvalid(f"due_date must be a date like 2026-12-31 (got {text!r})") from None


@dataclass
class TaskService:
    session: Session
    user_id: int

    def _get(self, task_id: int) -> Task:
        if not 1 <= task_id <= INT32_MAX:  # ids are 32-bit; larger numbers cannot exist
            raise TaskNotFound(task_id)
        task = self.session.scalar(select(Task).where(Task.id == task_id, Task.user_id == self.user_id))
        if task is None:
            raise TaskNotFound(task_id)
        return task

    def get(self, task_id: int) -> dict[str, Any]:
        return task_to_dict(self._get(task_id))

    def page(
        self, status: str = "all", limit: int = LIST_LIMIT_MAX, offset: int = 0, search: str | None = None
    ) -> TaskPage:
        """Tasks in id order, `limit` of them from `offset`, with the true number that match.
        `search` keeps titles containing every one of its words (case-insensitive)."""
        if status not in STATUS_FILTERS:
            raise TaskInvalid(f"status must be one of {', '.join(STATUS_FILTERS)} (got {status!r})")
        if not 1 <= limit <= LIST_LIMIT_MAX:
            raise TaskInvalid(f"limit must be between 1 and {LIST_LIMIT_MAX} (got {limit})")
        if not 0 <= offset <= INT32_MAX:
            raise TaskInvalid(f"offset must be between 0 and {INT32_MAX} (got {offset})")
        conditions = [Task.user_id == self.user_id]
        if status == "pending":
            conditions.append(Task.completed.is_(False))
        elif status == "completed":
            conditions.append(Task.completed.is_(True))
        for word in (search or "").split():
            escaped = _no_nul("search", word).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append(Task.title.ilike(f"%{escaped}%", escape="\\"))
        total = int(self.session.scalar(select(func.count()).select_from(Task).where(*conditions)) or 0)
        rows = self.session.scalars(select(Task).where(*conditions).order_by(Task.id).offset(offset).limit(limit))
        return TaskPage([task_to_dict(t) for t in rows], total, offset, limit)

    def add(self, title: str, description: str | None = None, due_date: str | dt.date | None = None) -> dict[str, Any]:
        task = Task(
            user_id=self.user_id,
            title=clean_title(title),
            description=clean_description(description),
            due_date=parse_due_date(due_date),
            completed=False,
        )
        self.session.add(task)
        self.session.flush()
        self.session.refresh(task)
        return task_to_dict(task)

    def set_completed(self, task_id: int, completed: bool) -> dict[str, Any]:
        task = self._get(task_id)
        if task.completed != completed:
            task.completed = completed
            task.completed_at = dt.datetime.now(dt.UTC) if completed else None
            self.session.flush()
            self.session.refresh(task)
        return task_to_dict(task)

    def update(self, task_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply the given fields (title, description, due_date, completed); absent keys stay as they are."""
        task = self._get(task_id)
        if "title" in changes:
            if changes["title"] is None:
                raise TaskInvalid("title must not be empty")
            task.title = clean_title(changes["title"])
        if "description" in changes:
            task.description = clean_description(changes["description"])
        if "due_date" in changes:
            task.due_date = parse_due_date(changes["due_date"])
        if "completed" in changes and changes["completed"] is not None and task.completed != changes["completed"]:
            task.completed = bool(changes["completed"])
            task.completed_at = dt.datetime.now(dt.UTC) if task.completed else None
        self.session.flush()
        self.session.refresh(task)
        return task_to_dict(task)

    def delete(self, task_id: int) -> dict[str, Any]:
        task = self._get(task_id)
        gone = task_to_dict(task)
        self.session.delete(task)
        self.session.flush()
        return gone

    def count(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(Task).where(Task.user_id == self.user_id)) or 0)

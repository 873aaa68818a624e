"""End to end in a real browser: headless Debian Chromium -> built Next.js frontend (node server.js)
-> its /api proxy -> the real backend (uvicorn) -> a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.frontend.conftest import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.slow]

PASSWORD = "correct horse battery"


def screenshot_dir(tmp_path: Path) -> Path:
    """TODO_RUNBOOK_TEST_OUTPUT keeps screenshots after the run; otherwise pytest's temp folder."""
    root = os.environ.get("TODO_RUNBOOK_TEST_OUTPUT")
    target = Path(root) / "frontend" if root else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    return target


def stored_token(page: Any) -> str:
    raw = page.evaluate("() => window.localStorage.getItem('todo-runbook.session')")
    assert raw, "no session in localStorage after sign-up"
    return str(json.loads(raw)["token"])


def backend_tasks(backend: ServerProcess, token: str) -> list[dict[str, Any]]:
    response = httpx.get(backend.url + "/api/tasks", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    return list(response.json())


def sign_up(page: Any, frontend: ServerProcess, email: str) -> None:
    page.goto(frontend.url + "/")
    page.get_by_test_id("auth-switch").click()
    page.wait_for_selector('[data-testid="auth-form"][data-mode="signup"]')
    page.get_by_test_id("auth-email").fill(email)
    page.get_by_test_id("auth-password").fill(PASSWORD)
    page.get_by_test_id("auth-submit").click()
    page.get_by_test_id("signed-in-as").wait_for()
    assert page.get_by_test_id("signed-in-as").inner_text() == email


def test_sign_up_add_by_chat_and_complete(browser_page: Any, frontend_server: ServerProcess,
                                          backend_server: ServerProcess, tmp_path: Path,
                                          record_property: Any) -> None:
    page = browser_page
    email = f"e2e-{uuid.uuid4().hex[:10]}@example.com"
    sign_up(page, frontend_server, email)
    page.get_by_test_id("tasks-empty").wait_for()

    token = stored_token(page)
    assert backend_tasks(backend_server, token) == []

    days_before = {dt.date.today() + dt.timedelta(days=1)}
    page.get_by_test_id("chat-input").fill("add buy milk tomorrow")
    page.get_by_test_id("chat-send").click()
    reply = page.get_by_test_id("chat-message-assistant").first
    reply.wait_for()
    assert page.get_by_test_id("chat-message-user").first.inner_text() == "add buy milk tomorrow"
    assert "add_task" in page.get_by_test_id("chat-meta").first.inner_text()
    assert reply.inner_text().strip()

    # The list refreshes after the turn: the new task appears without a reload.
    item = page.locator('[data-testid="task-item"]', has_text="buy milk")
    item.wait_for()
    assert item.get_attribute("data-completed") == "false"
    tasks = backend_tasks(backend_server, token)
    assert len(tasks) == 1, tasks
    task = tasks[0]
    assert "buy milk" in task["title"].lower() and task["completed"] is False
    days_before.add(dt.date.today() + dt.timedelta(days=1))  # the turn may have crossed midnight
    assert task["due_date"] in {day.isoformat() for day in days_before}
    assert item.get_attribute("data-task-id") == str(task["id"])

    item.get_by_test_id("task-toggle").click()
    page.wait_for_selector(f'[data-testid="task-item"][data-task-id="{task["id"]}"][data-completed="true"]')
    assert backend_tasks(backend_server, token)[0]["completed"] is True

    shot = screenshot_dir(tmp_path) / "todo-completed.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    record_property("screenshot", str(shot))

    # The session survives a reload (token kept client side) and the list shows the stored state.
    page.reload()
    page.get_by_test_id("signed-in-as").wait_for()
    page.wait_for_selector(f'[data-testid="task-item"][data-task-id="{task["id"]}"][data-completed="true"]')


def test_delete_sign_out_and_bad_password(browser_page: Any, frontend_server: ServerProcess,
                                          backend_server: ServerProcess) -> None:
    page = browser_page
    email = f"e2e-{uuid.uuid4().hex[:10]}@example.com"
    sign_up(page, frontend_server, email)
    token = stored_token(page)
    created = httpx.post(backend_server.url + "/api/tasks", json={"title": "water the plants"},
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert created.status_code == 201, created.text
    page.get_by_test_id("tasks-refresh").click()
    item = page.locator('[data-testid="task-item"]', has_text="water the plants")
    item.wait_for()
    item.get_by_test_id("task-delete").click()
    page.get_by_test_id("tasks-empty").wait_for()
    assert backend_tasks(backend_server, token) == []

    page.get_by_test_id("sign-out").click()
    page.wait_for_selector('[data-testid="auth-form"][data-mode="signin"]')
    assert page.evaluate("() => window.localStorage.getItem('todo-runbook.session')") is None

    page.get_by_test_id("auth-email").fill(email)
    page.get_by_test_id("auth-password").fill("not the password")
    page.get_by_test_id("auth-submit").click()
    error = page.get_by_test_id("auth-error")
    error.wait_for()
    assert error.inner_text().strip(), "a failed sign-in shows the backend's reason"
    assert page.get_by_test_id("signed-in-as").count() == 0

    page.get_by_test_id("auth-password").fill(PASSWORD)
    page.get_by_test_id("auth-submit").click()
    page.get_by_test_id("signed-in-as").wait_for()
    page.get_by_test_id("tasks-empty").wait_for()

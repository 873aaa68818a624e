"""The verify step's browser check (todo_runbook/browser.py) in headless Debian Chromium, lock free.

Stand-in for the ingress: the real built frontend (node server.js) in front of the real backend on a real
PostgreSQL, on a loopback port. The browser reaches it as http://todo.local only through its own host
mapping (--host-resolver-rules), exactly as verify points it at the cluster's ingress address; the
test-bed end-to-end test (tests/e2e/test_runbook_testbed.py) covers the real ingress.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.frontend.conftest import ServerProcess, StandaloneBuild, free_loopback_port, start_frontend
from todo_runbook import browser

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.slow]


def assert_screenshots(result: browser.BrowserResult, run_dir: Path, names: list[str]) -> None:
    assert [s.step for s in result.screenshots] == names
    for number, shot in enumerate(result.screenshots, start=1):
        path = run_dir / shot.file
        assert shot.file == f"browser/{number:02d}-{shot.step}.png" and Path(shot.path) == path
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5_000


def test_sign_up_chat_and_see_the_task_at_todo_local(chromium_path: str, frontend_server: ServerProcess,
                                                     tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    port = frontend_server.url.rsplit(":", 1)[1]
    result = browser.check_through_ingress("todo.local", "ingress", frontend_server.url, run_dir / "browser")
    assert result.task_shown is True, (result.reason, result.page_text)
    assert result.url == "http://todo.local/" and result.host_rule == f"MAP todo.local 127.0.0.1:{port}"
    assert "Chromium" in result.browser and result.seconds and result.seconds > 0
    assert [s.name for s in result.steps] == ["open the page", "sign up", "send a chat message",
                                              "see “buy milk” in the task list"]
    assert all(s.ok for s in result.steps)
    assert_screenshots(result, run_dir, ["page", "signed-up", "chat-reply", "task-listed"])
    assert "buy milk" in result.screenshots[-1].caption.lower()
    html = browser.report_html(browser_evidence(result))
    assert html.count("data:image/png;base64,") == 4 and "the task appeared on the page" in html


def browser_evidence(result: browser.BrowserResult) -> dict[str, object]:
    from todo_runbook.evidence import to_jsonable

    return dict(to_jsonable(result))


def test_without_the_mapping_target_the_page_never_loads_and_the_last_state_is_kept(chromium_path: str,
                                                                                   tmp_path: Path) -> None:
    """Nothing listens at the mapped address: todo.local does not load, the error page is kept."""
    run_dir = tmp_path / "run"
    result = browser.run_flow("http://todo.local/", f"MAP todo.local 127.0.0.1:{free_loopback_port()}",
                              chromium_path, run_dir / "browser", timeout_s=15)
    assert result.task_shown is False
    assert "open the page" in result.reason and "ERR_CONNECTION_REFUSED" in result.reason
    assert_screenshots(result, run_dir, ["last-state"])


def test_a_page_that_never_shows_the_task_fails_with_what_was_on_it(chromium_path: str,
                                                                     frontend_build: StandaloneBuild,
                                                                     tmp_path: Path) -> None:
    """A frontend with no backend behind it: sign-up cannot finish; the reason quotes the page."""
    front = start_frontend(frontend_build, f"http://127.0.0.1:{free_loopback_port()}", tmp_path)
    try:
        run_dir = tmp_path / "run"
        result = browser.check_through_ingress("todo.local", "ingress", front.url, run_dir / "browser", timeout_s=15)
    finally:
        front.stop()
    assert result.task_shown is False
    assert "sign up" in result.reason and "the page showed:" in result.reason and result.page_text
    assert [s.ok for s in result.steps] == [True, False]
    assert_screenshots(result, run_dir, ["page", "last-state"])


def test_no_ingress_means_not_measured_without_starting_a_browser(tmp_path: Path) -> None:
    result = browser.check_through_ingress("todo.local", "port-forward", "http://127.0.0.1:1", tmp_path,
                                           access_note="no IngressClass in the cluster")
    assert result.task_shown is None and "port-forward" in result.reason and "no IngressClass" in result.reason
    assert not any(tmp_path.iterdir())

"""Fixture plugin: run the tests that need no built tools first, the test bed's last, and wait for the prebuild.

`make test` compiles the Go tools in the background (:mod:`tests.support.prebuild`, pid in
``TODO_RUNBOOK_PREBUILD_PID``) while pytest runs. Each test module gets a tier from its tests' markers
and fixtures: 0 needs nothing built, 1 needs a CLI built from Go modules (helm, syft, kind, the
registry), 2 needs the test bed, 3 needs minikube (the prebuild's last and longest CLI). Modules run by
tier, keeping pytest's order inside a tier and keeping each module whole (its module fixtures are set up
once). Before the first tier-2 test the session waits, outside any test's timeout and printing its
progress, for the prebuild to have built the test bed; before the first tier-3 test, for all of it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.prebuild import PID_VARIABLE, TEST_BED_STEP

LOG_VARIABLE = "TODO_RUNBOOK_PREBUILD_LOG"
TEST_BED_MARKERS = {"cluster", "node", "testbed_tools"}
TEST_BED_FIXTURES = {"testbed", "real_node"}
TOOL_FIXTURES = {"helm_binaries", "kind_cli", "minikube_cli", "syft_cli", "registry_paths", "openapi"}
LAST_FIXTURES = {"minikube_cli"}
_waited_for: set[int] = set()


def item_tier(item: pytest.Item) -> int:
    names = set(getattr(item, "fixturenames", ()))
    if LAST_FIXTURES & names:
        return 3
    if TEST_BED_FIXTURES & names or any(item.get_closest_marker(m) for m in TEST_BED_MARKERS):
        return 2
    return 1 if TOOL_FIXTURES & names else 0


def module_of(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(trylast=True)  # after pytest groups items by parametrized session fixtures
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tiers: dict[str, int] = {}
    for item in items:
        tiers[module_of(item)] = max(tiers.get(module_of(item), 0), item_tier(item))
    items.sort(key=lambda item: tiers[module_of(item)])  # stable: pytest's order inside a tier


def prebuild_running(pid: int) -> bool:
    """True while the process lives (a zombie left for `make` to reap counts as finished)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _last_line(log: str | None) -> str:
    if not log:
        return ""
    try:
        lines = [line for line in Path(log).read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].strip()[:160] if lines else ""


def step_finished(log: str | None, step: str) -> bool:
    """True once the prebuild's log says the step is ready or failed."""
    try:
        text = Path(log).read_text(errors="replace") if log else ""
    except OSError:
        return False
    return f"prebuild: {step} ready" in text or f"prebuild: {step} FAILED" in text


def wait_for_prebuild(config: Any, poll_s: float = 5.0, report_every_s: float = 60.0, *,
                      step: str | None = None) -> None:
    """Wait for the prebuild process to end, or with ``step`` only until its log says that step finished."""
    raw = os.environ.get(PID_VARIABLE, "")
    if not raw.isdigit() or not prebuild_running(int(raw)):
        return
    log = os.environ.get(LOG_VARIABLE)

    def waiting() -> bool:
        return prebuild_running(int(raw)) and not (step and step_finished(log, step))

    if not waiting():
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    say = reporter.write_line if reporter else print
    started = time.monotonic()
    what = f"its step '{step}'" if step else "all of it"
    say(f"\nwaiting for the tools build (pid {raw}, log {log}), {what}, before the next tests")
    next_report = started + report_every_s
    while waiting():
        time.sleep(poll_s)
        if time.monotonic() >= next_report:
            say(f"  ... {time.monotonic() - started:.0f} s: {_last_line(log)}")
            next_report += report_every_s
    done = f"step '{step}' of the tools build finished" if step and prebuild_running(int(raw)) else \
        "tools build finished"
    say(f"{done} after a {time.monotonic() - started:.0f} s wait: {_last_line(log)}")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)  # outermost: the wait is not part of any test's timeout
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    tier = item_tier(item)
    if tier >= 2 and tier not in _waited_for:
        _waited_for.add(tier)
        wait_for_prebuild(item.config, step=TEST_BED_STEP if tier == 2 else None)
    yield

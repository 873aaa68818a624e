"""The notebook's progress widget: counts from the work, a log box that shows the newest lines, the whole log in
a file, and an ending that says "done in N s" or what failed (the headless reporter says the same in lines)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from todo_runbook.errors import ClusterUnreachableError
from todo_runbook.progress import TextProgress, phase
from todo_runbook.progress_view import VISIBLE_LINES, ProgressView


def test_counts_steps_and_the_log_follows_the_newest_lines(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "build.log"
    with ProgressView("build", about="building 2 images", log_file=log_file) as view:
        assert "building 2 images" in view.about.value and str(log_file) in view.about.value
        assert view.bar.layout.display == "none" and view.log.layout.display == "none"  # nothing to show yet
        phase(view, 1, 2, "image", "backend")
        assert view.count.value == "image 1 of 2: backend" and view.bar.layout.display == ""
        for step in range(1, 26):
            view(f"Step {step}/25 : RUN something {step}")
        assert (view.steps.value, view.steps.max, view.step_count.value) == (25, 25, "step 25 of 25")
        shown = view.log.value.splitlines()
        assert len(shown) == VISIBLE_LINES and shown[-1].endswith("Step 25/25 : RUN something 25")
        assert "Step 18/25" in view.status.value or "Step 25/25" in view.status.value
        phase(view, 2, 2, "image", "frontend")
        assert view.bar.value == 1 and view.steps.layout.display == "none"  # the next image starts its own steps
    assert re.search(r"build: done in \d+ s", view.status.value) and view.bar.value == view.bar.max
    assert view.bar.bar_style == "success" and "Interrupt" not in view.about.value
    written = log_file.read_text()
    assert "Step 1/25 : RUN something 1" in written and re.search(r"build: done in \d+ s", written)


def test_a_failure_ends_with_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ClusterUnreachableError), ProgressView("cluster") as view:
        raise ClusterUnreachableError("the offline test bed is not running", "start it")
    assert "cluster: failed after" in view.status.value and "the offline test bed is not running" in view.status.value
    assert view.bar.bar_style == "danger"


def test_headless_lines_say_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    with TextProgress("build", about="building 2 images") as progress:
        phase(progress, 1, 2, "image", "backend")
    out = capsys.readouterr().out
    assert "build: building 2 images" in out and "build: image 1 of 2: backend" in out
    assert re.search(r"build: done in \d+ s", out)
    lines: list[str] = []
    phase(lines.append, 2, 2, "image", "frontend")  # a plain callable still hears about the count
    assert lines == ["image 2 of 2: frontend"]

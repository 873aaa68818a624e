"""The guided walkthrough as a person meets it: JupyterLab started by the project's own `make lab` on a free port,
driven in Debian's headless Chromium. 01-build's controls change a parameter that 02-load then sees; a live
progress bar counts real work; a known problem (no cluster, start_cluster=false) reads as the short message, not a
traceback. Screenshots land in TODO_RUNBOOK_TEST_OUTPUT/lab-walkthrough, else outputs/test-artifacts/lab-walkthrough.

No kube context can answer here (an empty KUBECONFIG) and the lab has a cache folder of its own, so no test bed
running elsewhere on this machine is found. The app images are not built (that needs /tmp/todo-testbed.lock);
the progress bar runs on two throwaway scratch images instead, through the same widget code.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.lab import make_lab

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("0*.ipynb"))
TINY_BUILD = Path(__file__).with_name("tiny_build.py")
SCRATCH_TAGS = ("todo-lab-test-a:latest", "todo-lab-test-b:latest")

pytestmark = [pytest.mark.browser, pytest.mark.docker]


def artifacts_dir() -> Path:
    root = os.environ.get("TODO_RUNBOOK_TEST_OUTPUT")
    target = (Path(root) if root else ROOT / "outputs" / "test-artifacts") / "lab-walkthrough"
    target.mkdir(parents=True, exist_ok=True)
    return target


@dataclass
class Lab:
    base: str
    token: str
    outputs: Path

    def url(self, notebook: str) -> str:
        return f"{self.base}/lab/tree/{notebook}?reset&token={self.token}"


def lab_settings(folder: Path) -> None:
    """No autosave (the repo's notebooks stay as they are) and every cell in the page (no windowing)."""
    for plugin, values in {"@jupyterlab/docmanager-extension/plugin": {"autosave": False},
                           "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
                           "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                                           "checkForUpdates": False}}.items():
        path = folder / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    home = tmp_path_factory.mktemp("lab")
    kubeconfig = home / "empty-kubeconfig"
    kubeconfig.write_text("")
    lab_settings(home / "settings")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "TODO_RUNBOOK_CACHE": str(home / "cache"),
           "TODO_RUNBOOK_OUTPUTS_DIR": str(home / "outputs"), "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"), "JUPYTER_RUNTIME_DIR": str(home / "runtime")}
    env.pop("TODO_RUNBOOK_PROVIDER", None)
    env.pop("TODO_RUNBOOK_START_CLUSTER", None)
    with make_lab(env) as server:
        yield Lab(server.base, server.token, home / "outputs")


@pytest.fixture
def page(browser_page: Any) -> Any:
    browser_page.set_viewport_size({"width": 1400, "height": 900})
    browser_page.set_default_timeout(60_000)  # a kernel starting on 2 busy cores
    return browser_page


def open_notebook(page: Any, lab: Lab, notebook: str) -> Any:
    page.goto(lab.url(notebook))
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").last
    panel.locator(".jp-Notebook .jp-Cell").first.wait_for()
    # the kernel is up when the status bar reads "Python 3 (todo-runbook) | Idle"
    page.locator(".jp-StatusBar-Widget").get_by_text(re.compile(r"todo-runbook\) \| Idle")).wait_for(timeout=120_000)
    sidebar = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if sidebar.count():
        sidebar.first.click()  # the file browser closed: the notebook gets the whole width
    return panel


def run_cell(page: Any, panel: Any, index: int, timeout_ms: int = 120_000) -> Any:
    """Select cell `index`, run it (Shift+Enter), wait until its prompt shows an execution count."""
    cell = panel.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.locator(".jp-InputArea-prompt").click()
    page.keyboard.press("Escape")  # command mode: Shift+Enter runs the selected cell
    page.keyboard.press("Shift+Enter")
    if "jp-CodeCell" in (cell.get_attribute("class") or ""):
        cell.locator(".jp-InputArea-prompt").filter(has_text=re.compile(r"\[\d+\]")).wait_for(timeout=timeout_ms)
    return cell


def cell_index(panel: Any, text: str) -> int:
    """The first cell whose source contains `text` (cells are found by what they say, not by position)."""
    sources = panel.locator(".jp-Notebook .jp-Cell").evaluate_all(
        "cells => cells.map(c => c.querySelector('.jp-InputArea-editor')?.innerText || '')")
    return next(i for i, source in enumerate(sources) if text in source)


def run_through(page: Any, panel: Any, text: str) -> Any:
    """Run every cell from the top down to the first one containing `text`; returns that cell."""
    last = cell_index(panel, text)
    cell = None
    for index in range(last + 1):
        cell = run_cell(page, panel, index)
    return cell


def notebook_hashes() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (ROOT / "notebooks").glob("0*.*")}


def run_config(lab: Lab) -> dict[str, Any]:
    latest = (lab.outputs / "LATEST").read_text().strip()
    config: dict[str, Any] = json.loads((lab.outputs / latest / "config.json").read_text())
    return config


def remove_scratch_images() -> None:
    for tag in SCRATCH_TAGS:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, timeout=60, check=False)


def test_walkthrough_in_a_real_browser(lab: Lab, page: Any) -> None:
    shots = artifacts_dir()
    before = notebook_hashes()
    for notebook in NOTEBOOKS:  # each notebook's first screen: title, what it does, why
        open_notebook(page, lab, notebook)
        page.screenshot(path=str(shots / f"first-screen-{notebook.removesuffix('.ipynb')}.png"))

    # 01-build: start the run, see the parameter table and the controls, change one
    panel = open_notebook(page, lab, "01-build.ipynb")
    run_through(page, panel, 's.controls(["smoke_run", "build_in_minikube"])')
    table = panel.locator("details.todo-parameters").first
    assert "build straight into minikube's Docker daemon" in (table.text_content() or "")
    control = panel.locator(".todo-control-build_in_minikube")
    label = control.get_by_text("build_in_minikube", exact=True)
    fits = label.evaluate("el => el.scrollWidth <= el.clientWidth")
    assert fits, "the build_in_minikube label is cut off"
    assert "build straight into minikube's Docker daemon" in panel.locator(".todo-controls").inner_text()
    control.locator("input[type=checkbox]").check()
    panel.locator(".todo-controls").get_by_text("saved in").wait_for()
    assert run_config(lab)["build_in_minikube"] is True

    # a progress bar on real work (two scratch images), screenshot mid-work, then "done in N s"
    remove_scratch_images()
    try:
        last = cell_index(panel, 's.controls(["smoke_run", "build_in_minikube"])')
        run_cell_code(page, panel, last, f"exec(open({str(TINY_BUILD)!r}).read())")
        view = panel.locator(".todo-progress").last
        view.get_by_text(re.compile(r"step \d+ of \d+")).wait_for(timeout=120_000)
        assert re.search(r"image [12] of 2", view.inner_text())
        assert "full log:" in view.inner_text() and "to stop:" in view.inner_text()
        view.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "progress-mid-work.png"))
        view.get_by_text(re.compile(r"tiny build: done in \d+ s")).wait_for(timeout=180_000)
        text = view.inner_text()
        assert "image 2 of 2" in text and re.search(r"elapsed \d+ s", text)
        newest = view.locator("textarea").input_value().splitlines()[-1]
        assert "Successfully" in newest or "Step" in newest or "--->" in newest, newest
    finally:
        remove_scratch_images()

    # 02-load: the value chosen in 01 is in this run's configuration; a known problem is a short message
    panel = open_notebook(page, lab, "02-load.ipynb")
    run_through(page, panel, 's.controls(["provider", "start_cluster"])')
    table = panel.locator("details.todo-parameters").first
    table.locator("summary").click()
    row = table.locator("tr", has=page.locator("code", has_text="build_in_minikube"))
    assert row.locator("td").nth(1).inner_text().strip() == "True"  # 01's choice, seen by a new kernel
    panel.locator(".todo-control-start_cluster input[type=checkbox]").uncheck()
    panel.locator(".todo-controls").last.get_by_text("saved in").wait_for()
    assert run_config(lab)["start_cluster"] is False
    error_cell = run_cell(page, panel, cell_index(panel, "target = s.cluster()"))
    message = error_cell.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").last
    message.wait_for()
    text = message.inner_text()
    assert "cluster unreachable: the offline test bed is not running" in text
    assert "because: no kube context answers" in text and "because: start_cluster is false" in text
    assert "what to do: tick start_cluster in this notebook's controls" in text
    assert "Traceback" not in text and "session.py" not in text and len(text.splitlines()) <= 10
    message.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "known-error-message.png"))

    assert notebook_hashes() == before, "the walkthrough changed the repository's notebooks"
    for name in ("first-screen-01-build.png", "progress-mid-work.png", "known-error-message.png"):
        assert (shots / name).stat().st_size > 10_000, name


def run_cell_code(page: Any, panel: Any, after: int, code: str) -> None:
    """Insert a code cell below cell `after`, type `code` into it and run it (the page's own editor)."""
    cell = panel.locator(".jp-Notebook .jp-Cell").nth(after)
    cell.locator(".jp-InputArea-prompt").click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    new = panel.locator(".jp-Notebook .jp-Cell").nth(after + 1)
    new.locator(".cm-content").click()
    page.keyboard.insert_text(code)
    page.keyboard.press("Shift+Enter")

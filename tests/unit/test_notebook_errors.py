"""A known problem in a notebook cell reads as a short message (problem, causes, remedy), not a traceback; an
unexpected exception keeps its traceback; either way the cell fails, so papermill stops there."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import papermill as pm
import pytest

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_cells(tmp_path: Path, *cells: str) -> list[str]:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source, out = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, source)
    with pytest.raises(pm.PapermillExecutionError):
        pm.execute_notebook(str(source), str(out), kernel_name="python3", cwd=str(tmp_path), progress_bar=False)
    executed = nbformat.read(out, as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert len(errors) == 1
    return [ANSI.sub("", line) for line in errors[0]["traceback"]]


def test_a_known_problem_is_a_short_message(tmp_path: Path) -> None:
    lines = run_cells(tmp_path, "from todo_runbook import session",
                      f"s = session.start('load', params={{'helth_requests': 3, 'outputs_dir': '{tmp_path}'}})")
    text = "\n".join(lines)
    assert "bad parameter: unknown parameter 'helth_requests'" in text and "health_requests" in text
    assert "what to do:" in text
    assert "Traceback" not in text and "File " not in text and "session.py" not in text
    assert len(lines) <= 4


def test_an_unexpected_error_keeps_its_traceback(tmp_path: Path) -> None:
    lines = run_cells(tmp_path, "from todo_runbook import session",
                      f"s = session.start('build', params={{'outputs_dir': '{tmp_path}'}})",
                      "def inner():\n    raise ValueError('not a known problem')\ninner()")
    text = "\n".join(lines)
    assert "ValueError" in text and "not a known problem" in text and "inner" in text


def test_no_cluster_shows_the_auto_detection_reasons_and_a_notebook_remedy(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # No kube context can answer (an empty kubeconfig) and no test bed is known (a cache of its own), so whatever
    # runs elsewhere on this machine does not interfere.
    kubeconfig = tmp_path / "empty-kubeconfig"
    kubeconfig.write_text("")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("TODO_RUNBOOK_CACHE", str(tmp_path / "cache"))
    lines = run_cells(tmp_path, "from todo_runbook import session",
                      f"s = session.start('load', params={{'start_cluster': False, 'outputs_dir': '{tmp_path}'}})",
                      "s.cluster()")
    text = "\n".join(lines)
    assert "cluster unreachable: the offline test bed is not running" in text
    assert "because: auto-detection chose provider 'testbed'" in text
    assert "because: no kube context answers" in text and "minikube" in text
    assert "because: start_cluster is false" in text
    assert "what to do: tick start_cluster in this notebook's controls" in text
    assert "make cluster-up" not in text and "Traceback" not in text and "File " not in text

    # the same problem under papermill (headless: no controls) gives the command-line remedy
    lines = run_cells(tmp_path, "from todo_runbook import session",
                      f"s = session.start('load', headless=True, params={{'start_cluster': False, "
                      f"'outputs_dir': '{tmp_path}'}})", "s.cluster()")
    headless = "\n".join(lines)
    assert "because: start_cluster is false" in headless and "what to do: start it with `make cluster-up`" in headless

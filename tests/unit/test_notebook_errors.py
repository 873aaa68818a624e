"""A known problem in a notebook cell reads as a short message (problem, causes, remedy), not a traceback; an
unexpected exception keeps its traceback; either way the cell fails, so papermill stops there."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from todo_runbook.config import unknown_parameter
from todo_runbook.errors import ClusterUnreachableError, ConfigError, RunbookError
from todo_runbook.notebook_errors import WHERE, in_notebook_words, short_message
from todo_runbook.providers.base import unreachable

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
    # the remedy says where to change it in the notebook, not which command to type
    assert "what to do: use one of the valid parameters:" in text and "parameters cell" in text
    assert "todo-runbook params" not in text and "-p " not in text
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


def remedy_shown(error: RunbookError, interactive: bool = True) -> str:
    return ANSI.sub("", short_message(error, interactive)[-1]).removeprefix("what to do: ")


def test_command_line_parameters_become_the_parameters_cell_in_a_notebook() -> None:
    # the raise sites' own remedies: two parameters side by side name the parameters cell once
    shown = remedy_shown(unreachable("/k", "dev", "https://127.0.0.1:6443", "refused"))
    assert re.search(rf"or choose another with `provider = [a-z|]+`, `kube_context = 'NAME'` {re.escape(WHERE)}$",
                     shown), shown
    assert "-p " not in shown and "`kubectl --kubeconfig /k --context dev cluster-info`" in shown
    typo = remedy_shown(unknown_parameter("provder", {"provider", "profile"}))
    assert typo == "use one of the valid parameters: profile, provider (see the parameter table under this " \
                   "notebook's parameters cell)"
    # values as the cell would write them, the sentence's punctuation kept outside, bare names, make's PARAMS
    assert remedy_shown(ConfigError("x", "set -p aiops_model=NAME, or -p aiops_llm_provider=offline.")) == (
        f"set `aiops_model = 'NAME'` {WHERE}, or `aiops_llm_provider = 'offline'`.")
    assert remedy_shown(ConfigError("x", "pass `-p kill_pod=false -p deploy_timeout_s=600 -p values_files=a,b`")) \
        == f"pass `kill_pod = False`, `deploy_timeout_s = 600`, `values_files = ['a', 'b']` {WHERE}"
    assert remedy_shown(ConfigError("x", "check -p release / -p namespace")) == f"check `release` {WHERE} / `namespace`"
    assert remedy_shown(ConfigError("x", 'run `make runbook PARAMS="registry=h:5000/todo smoke_run=false"`')) == (
        f"run `registry = 'h:5000/todo'`, `smoke_run = False` {WHERE}")


def test_other_commands_and_the_headless_remedy_stay_as_written() -> None:
    # minikube's own -p is a profile, not a runbook parameter, even when the profile shares a parameter's name
    minikube = "recreate the profile bigger: `minikube delete -p release && minikube start -p release --cpus 4`"
    assert in_notebook_words(minikube) == minikube
    assert in_notebook_words("use -p not_a_parameter=1") == "use -p not_a_parameter=1"
    # under papermill there is no parameters cell to edit by hand: the command-line remedy is the right one
    error = ConfigError("unknown parameter 'provder'", "see `todo-runbook params`; pass -p provider=kind")
    assert remedy_shown(error, interactive=False) == "see `todo-runbook params`; pass -p provider=kind"
    # a remedy written for the notebook is shown as written
    written = ClusterUnreachableError("down", "run `make cluster-up` or -p start_cluster=true",
                                      in_notebook="tick start_cluster in this notebook's controls")
    assert remedy_shown(written) == "tick start_cluster in this notebook's controls"

"""The runner's kernels, started one step ahead: real ipykernel processes, driven over their own protocol."""

from __future__ import annotations

from pathlib import Path

import pytest
from jupyter_core.utils import run_sync

from todo_runbook import kernels
from todo_runbook.errors import ToolMissingError


def _ask(kernel: kernels.WarmKernel, code: str) -> str:
    """Run `code` in the kernel and return what it printed."""
    client = kernel.manager.client()
    client.start_channels()
    printed: list[str] = []

    def keep(msg: dict) -> None:
        if msg["header"]["msg_type"] == "stream":
            printed.append(msg["content"]["text"])

    try:
        run_sync(client.wait_for_ready)(timeout=60)
        reply = run_sync(client.execute_interactive)(code, timeout=60, output_hook=keep)
    finally:
        client.stop_channels()
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(printed)


def test_the_next_steps_kernel_starts_with_the_current_one(tmp_path: Path) -> None:
    ahead = kernels.KernelsAhead(["build", "load", "deploy"], tmp_path / "logs", tmp_path)
    try:
        assert set(ahead.started) == {"build"}  # the first one boots during preflight
        build = ahead.take("build")
        assert set(ahead.started) == {"build", "load"}
        assert run_sync(ahead.started["load"].manager.is_alive)()
        assert ahead.take("load") is ahead.started["load"]  # the same kernel, not a second one
        assert set(ahead.started) == {"build", "load", "deploy"}
        build.stop()
        ahead.started["load"].stop()
    finally:
        managers = [kernel.manager for kernel in ahead.started.values()]
        ahead.close()
    assert not any(run_sync(manager.is_alive)() for manager in managers)  # used or not, every kernel stopped
    assert ahead.started == {}
    # deploy's step never ran: its kernel wrote nothing, so no empty log is left as if it had
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["build.log", "load.log"]


def test_a_warm_kernel_has_the_package_imported_but_no_name_bound(tmp_path: Path) -> None:
    kernel = kernels.start("build", tmp_path / "build.log", tmp_path)
    try:
        out = _ask(kernel, "import os, sys\n"
                           f"print(sorted(m for m in {kernels.WARM_IMPORTS!r} if m in sys.modules))\n"
                           "print('todo_runbook' in dir(), 'IPython' in dir(), os.getcwd())")
    finally:
        kernel.stop()
        kernel.close()
    imported, bound = out.strip().splitlines()
    assert imported == str(sorted(kernels.WARM_IMPORTS))
    assert bound == f"False False {tmp_path}"  # the notebook's namespace starts empty, in the cwd asked for
    assert kernel.log.closed


def test_a_kernel_whose_step_never_ran_is_stopped_too(tmp_path: Path) -> None:
    kernel = kernels.start("teardown", tmp_path / "teardown.log", tmp_path)
    manager = kernel.manager
    kernel.close()  # never asked to stop: close() asks, then waits
    assert not run_sync(manager.is_alive)()
    assert not (tmp_path / "teardown.log").exists()


def test_the_warm_import_line_unbinds_every_root_name() -> None:
    line = kernels.warm_import_line(("IPython.display", "todo_runbook.session", "todo_runbook.steps"))
    assert line == "import IPython.display, todo_runbook.session, todo_runbook.steps; del IPython, todo_runbook"
    namespace: dict[str, object] = {}
    exec(line, namespace)  # the very line the kernel runs at start
    assert not {"IPython", "todo_runbook"} & set(namespace)


@pytest.mark.parametrize("steps", [[], ["teardown"]])
def test_no_kernel_is_left_behind_for_short_runs(tmp_path: Path, steps: list[str]) -> None:
    ahead = kernels.KernelsAhead(steps, tmp_path / "logs", tmp_path)
    managers = [kernel.manager for kernel in ahead.started.values()]
    assert len(managers) == len(steps)
    ahead.close()
    assert not any(run_sync(manager.is_alive)() for manager in managers)


def test_an_unknown_kernel_name_fails_the_step_not_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "KERNEL", "no-such-kernel")
    ahead = kernels.KernelsAhead(["build", "load"], tmp_path / "logs", tmp_path)  # no exception here
    with pytest.raises(ToolMissingError) as raised:
        ahead.take("build")
    assert raised.value.problem == "no Jupyter kernel named 'no-such-kernel' for the step notebooks"
    assert "make setup" in raised.value.remedy
    assert set(ahead.failed) == {"build", "load"} and ahead.started == {}
    ahead.close()


def test_papermill_on_a_warm_kernel_leaves_no_client_thread_behind(tmp_path: Path) -> None:
    """nbclient leaves the channels of a kernel it did not start open (a heartbeat thread each); stop() closes
    them, so a long-lived process that runs many notebooks does not pile up threads."""
    import threading

    import nbformat
    import papermill as pm

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    notebook.metadata["kernelspec"] = {"name": kernels.KERNEL, "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "in.ipynb")
    before = threading.active_count()
    ahead = kernels.KernelsAhead(["a", "b"], tmp_path / "logs", tmp_path)
    try:
        for step in ("a", "b"):
            kernel = ahead.take(step)
            pm.execute_notebook(str(tmp_path / "in.ipynb"), str(tmp_path / f"{step}.ipynb"), kernel_name=kernels.KERNEL,
                                km=kernel.manager, progress_bar=False, stdout_file=kernel.log, stderr_file=kernel.log)
            kernel.stop()
    finally:
        ahead.close()
    ran = nbformat.read(tmp_path / "b.ipynb", as_version=4)
    assert ran.cells[0].outputs[0]["text"] == "42\n"  # the notebook ran in the warm kernel
    assert threading.active_count() == before, [t.name for t in threading.enumerate()]

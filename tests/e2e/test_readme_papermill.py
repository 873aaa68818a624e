"""The README's papermill example really changes what the notebook does: `-p namespace X` reaches the step."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, env_for_testbed

README = (REPO / "README.md").read_text()


def test_the_readme_shows_the_papermill_example() -> None:
    assert re.search(r"papermill notebooks/04-verify\.ipynb \S+ -p run_dir \S+ -p namespace todo-app", README)


@pytest.mark.node
def test_a_loose_parameter_reaches_the_notebook(first_run, node_testbed, tmp_path: Path) -> None:
    # The README's command, on a copy of this session's run folder (verify records its evidence there, and the
    # other tests read the original), with a namespace that holds no release.
    run_dir = tmp_path / "run"
    shutil.copytree(first_run.run_dir, run_dir)
    out = tmp_path / "verify.ipynb"
    argv = [sys.executable, "-m", "papermill", str(REPO / "notebooks" / "04-verify.ipynb"), str(out),
            "-p", "run_dir", str(run_dir), "-p", "namespace", "todo-app-absent",
            "-p", "headless", "True", "--cwd", str(REPO / "notebooks")]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=env_for_testbed(node_testbed),
                          timeout=600)
    executed = out.read_text()
    # verify looked in the namespace the parameter named (and found no release there)
    assert proc.returncode != 0, proc.stderr[-2000:]
    assert "no pods of release" in executed and "todo-app-absent" in executed, executed[-3000:]

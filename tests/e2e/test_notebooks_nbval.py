"""The notebooks as a person runs them (run_dir empty, widgets on), executed by nbval in lax mode
against the offline test bed: 01 starts a run, 02..06 continue it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from todo_runbook.runner import NOTEBOOKS, NOTEBOOKS_DIR

from .conftest import REPO, env_for_testbed

pytestmark = [pytest.mark.cluster, pytest.mark.node, pytest.mark.docker, pytest.mark.slow]


def test_notebooks_pass_under_nbval(node_testbed, tmp_path):
    outputs = tmp_path / "outputs"
    env = env_for_testbed(node_testbed)
    env.update({"TODO_RUNBOOK_PROVIDER": "testbed", "TODO_RUNBOOK_OUTPUTS_DIR": str(outputs),
                "TODO_RUNBOOK_HEALTH_REQUESTS": "100"})
    notebooks = [str(NOTEBOOKS_DIR / name) for name in NOTEBOOKS.values()]
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
                           "--rootdir", str(tmp_path), "-c", "/dev/null", *notebooks],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=3600)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    run_id = (outputs / "LATEST").read_text().strip()
    evidence = outputs / run_id / "evidence"
    for step in NOTEBOOKS:
        assert json.loads((evidence / f"{step}.json").read_text())["status"] == "ok"

"""End-to-end helpers: run the real runbook CLI against the offline test bed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from todo_runbook import syft_tool

REPO = Path(__file__).resolve().parents[2]


@dataclass
class RunbookRun:
    returncode: int
    stdout: str
    stderr: str
    run_dir: Path
    outputs: Path

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.run_dir / "summary.json").read_text())

    def evidence(self, step: str) -> dict[str, Any]:
        return json.loads((self.run_dir / "evidence" / f"{step}.json").read_text())


def with_syft_on_path(env: dict[str, str]) -> dict[str, str]:
    """The pinned syft (the `syft_cli` fixture's build) first on PATH: the runbook's SBOMs are really made."""
    if (syft_tool.syft_dir() / "syft").is_file():
        env["PATH"] = f"{syft_tool.syft_dir()}{os.pathsep}{env.get('PATH', os.environ.get('PATH', ''))}"
    return env


def env_for_testbed(testbed: Any) -> dict[str, str]:
    env = testbed.env()
    env["KUBECONFIG"] = testbed.kubeconfig
    return with_syft_on_path(env)


def run_runbook(testbed: Any, outputs: Path, run_id: str, *args: str, timeout: float = 3600) -> RunbookRun:
    cmd = [sys.executable, "-m", "todo_runbook", "run", "--run-id", run_id, "-p", "provider=testbed",
           "-p", f"outputs_dir={outputs}", "-p", "health_requests=200", *args]  # the shipped 2 + 2 replicas
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env_for_testbed(testbed), timeout=timeout)
    return RunbookRun(proc.returncode, proc.stdout, proc.stderr, outputs / run_id, outputs)


@pytest.fixture(scope="session")
def runbook_outputs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runbook-outputs")


@pytest.fixture(scope="session")
def node_testbed(testbed):
    """The test bed with a real kubelet: pods must really run our images."""
    if not testbed.has_node:
        pytest.skip(f"test bed has no real node: {testbed.node_error}")
    return testbed


@pytest.fixture(scope="session")
def first_run(node_testbed, runbook_outputs, syft_cli) -> RunbookRun:
    return run_runbook(node_testbed, runbook_outputs, "e2e-1")


def pytest_report_header(config):
    return f"todo-runbook e2e: TODO_RUNBOOK_CACHE={os.environ.get('TODO_RUNBOOK_CACHE', '~/.cache/todo-runbook')}"

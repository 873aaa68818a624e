"""Where the registry credentials come from and what the release gets without them; no registry, engine or
cluster needed (test_push.py proves against a real registry with basic auth that these credentials are taken)."""

from __future__ import annotations

from pathlib import Path

import pytest

from todo_runbook import deploy, registry, registry_push
from todo_runbook.config import RunbookConfig

from .conftest import docker_login

HOST = "127.0.0.1:5443"
IMAGES = {"backend": f"{HOST}/todo/todo-backend:0a1b2c3d4e5f", "frontend": f"{HOST}/todo/todo-frontend:0a1b2c3d4e5f",
          "postgresql": "todo-runbook/postgres:15-bookworm"}


@pytest.fixture
def no_env_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Neither credential variable set, and a Docker config of this test's own (none of the machine's logins)."""
    monkeypatch.delenv(registry.USERNAME_ENV, raising=False)
    monkeypatch.delenv(registry.PASSWORD_ENV, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    docker_login(tmp_path, {})
    return tmp_path


def test_credentials_come_from_the_docker_config_of_that_registry_only(no_env_credentials: Path) -> None:
    target = registry.parse(f"{HOST}/todo")
    docker_login(no_env_credentials, {"registry.example.com": ("other", "other-pw-1")})
    assert registry.credentials(target) is None  # another registry's login is not this one's
    docker_login(no_env_credentials, {HOST: ("todo", "docker-config-pw-7")})
    found = registry.credentials(target)
    assert found is not None and found.source == "docker config"
    assert (found.username, found.password) == ("todo", "docker-config-pw-7")


def test_the_environment_wins_over_the_docker_config(no_env_credentials: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    docker_login(no_env_credentials, {HOST: ("todo", "docker-config-pw-7")})
    monkeypatch.setenv(registry.USERNAME_ENV, "ci")
    monkeypatch.setenv(registry.PASSWORD_ENV, "environment-pw-3")
    found = registry.credentials(registry.parse(f"{HOST}/todo"))
    assert found is not None and (found.username, found.source) == ("ci", "environment")


def test_without_credentials_the_release_gets_no_pull_secret(no_env_credentials: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy.release_args is what the chart receives (helm template and helm upgrade --install alike)."""
    config = RunbookConfig.from_mapping({"registry": f"{HOST}/todo"})
    args = deploy.release_args(config, IMAGES)
    assert not [a for a in args if "imagePullSecrets" in a], args
    # Still the registry path: the in-cluster PostgreSQL is pulled from the registry too.
    assert f"postgresql.image.repository={HOST}/todo/todo-runbook/postgres" in args
    # With credentials, exactly one pull secret, the one the deploy step creates.
    monkeypatch.setenv(registry.USERNAME_ENV, "ci")
    monkeypatch.setenv(registry.PASSWORD_ENV, "environment-pw-3")
    secrets = [a for a in deploy.release_args(config, IMAGES) if "imagePullSecrets" in a]
    assert secrets == [f"imagePullSecrets[0].name={registry_push.pull_secret_name(config.release)}"]

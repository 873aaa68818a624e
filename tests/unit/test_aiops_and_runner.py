import os

import pytest

from todo_runbook.errors import ConfigError
from todo_runbook.preflight import probe_tool, required_tools
from todo_runbook.runner import parse_params, parse_steps


@pytest.fixture
def no_ai_tools(monkeypatch, tmp_path):
    """A PATH with no AI tool on it (the python running the tests stays reachable)."""
    monkeypatch.setenv("PATH", str(tmp_path))


def test_steps_are_validated_and_ordered():
    assert parse_steps("verify,build") == ["build", "verify"]
    assert parse_steps(None)[0] == "build" and parse_steps(None)[-1] == "teardown"
    with pytest.raises(ConfigError, match="Did you mean 'deploy'"):
        parse_steps("build,deplyo")


def test_params_need_name_value():
    assert parse_params(["provider=kind", "values_files=a.yaml,b.yaml"]) == {
        "provider": "kind", "values_files": "a.yaml,b.yaml"}
    with pytest.raises(ConfigError, match="name=value"):
        parse_params(["provider"])


def test_required_tools_follow_steps_and_provider():
    assert required_tools(["build"], "testbed") == {"docker"}
    assert required_tools(["deploy"], "minikube") == {"helm", "kubectl", "minikube"}
    assert "kind" in required_tools(["load"], "kind")


def test_a_missing_tool_gets_an_install_hint(no_ai_tools):
    status = probe_tool("helm")
    assert not status.present and "make tools" in status.hint and "not on PATH" in status.detail
    assert os.environ["PATH"]

import json
import os

import pytest

from todo_runbook import aiops
from todo_runbook.config import RunbookConfig
from todo_runbook.errors import ConfigError
from todo_runbook.preflight import probe_tool, required_tools
from todo_runbook.providers import ClusterTarget
from todo_runbook.runner import parse_params, parse_steps

TARGET = ClusterTarget("testbed", "test", "todo-testbed", "/nonexistent/kubeconfig")


@pytest.fixture
def no_ai_tools(monkeypatch, tmp_path):
    """A PATH with no AI tool on it (the python running the tests stays reachable)."""
    monkeypatch.setenv("PATH", str(tmp_path))


def test_missing_tools_are_skipped_with_the_reason(no_ai_tools, tmp_path):
    config = RunbookConfig()
    runs = [aiops.run_prompt(p, TARGET, config, tmp_path) for p in aiops.PLAN_PROMPTS if not p.mutating]
    outcomes = {r.tool: r.outcome for r in runs}
    assert outcomes == {tool: f"skipped: {tool} not installed" for tool in ("docker-ai", "kubectl-ai", "kagent")}
    kagent = next(r for r in runs if r.tool == "kagent")
    assert kagent.command.startswith("kagent invoke --agent k8s-agent --task ")


def test_mutating_prompts_need_the_parameter(tmp_path):
    config = RunbookConfig()
    mutating = [p for p in aiops.PLAN_PROMPTS if p.mutating]
    assert mutating, "the plan's scale/deploy prompts are part of the catalogue"
    for prompt in mutating:
        run = aiops.run_prompt(prompt, TARGET, config, tmp_path)
        assert run.outcome.startswith("skipped: changes the cluster") and "aiops_allow_mutating=true" in run.outcome


def test_tools_left_out_by_parameter(tmp_path):
    config = RunbookConfig(aiops_tools=["kagent"])
    prompt = next(p for p in aiops.PLAN_PROMPTS if p.tool == "docker-ai")
    assert aiops.run_prompt(prompt, TARGET, config, tmp_path).outcome == "skipped: not in aiops_tools"


def test_kubectl_ai_without_credentials_is_skipped(monkeypatch):
    for key in aiops.LLM_KEYS:
        monkeypatch.delenv(key, raising=False)
    argv, why = aiops._kubectl_ai_argv(TARGET, "check pods", mutating=False)
    assert argv is None and "no LLM credentials" in why
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-1234")
    argv, _ = aiops._kubectl_ai_argv(TARGET, "check pods", mutating=False)
    assert argv[:2] == ["kubectl-ai", "--quiet"] and "--llm-provider" in argv and "openai" in argv
    assert "sk-test-1234" not in " ".join(argv)


def test_cheatsheet_is_generated_from_recorded_runs(tmp_path):
    for run_id, outcome in (("run-a", "skipped: kagent not installed"), ("run-b", "ok")):
        evidence = tmp_path / run_id / "evidence"
        evidence.mkdir(parents=True)
        evidence.joinpath("aiops.json").write_text(json.dumps({"result": {"runs": [
            {"tool": "kagent", "prompt": "analyze the cluster health", "outcome": outcome, "ran_at": "2026-11-26",
             "command": "kagent invoke --agent k8s-agent --task 'analyze the cluster health'"}]}}))
    text = aiops.write_cheatsheet(tmp_path, tmp_path / "cheatsheet.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| kagent |")]
    assert len(rows) == 2
    assert "| skipped: kagent not installed |" in text and "| run-b |" in text


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

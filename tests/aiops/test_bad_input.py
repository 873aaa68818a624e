"""Bad model choices give one clear line naming the problem and the fix, never a traceback."""

from __future__ import annotations

import pytest

from todo_runbook import aimodel
from todo_runbook.config import RunbookConfig
from todo_runbook.kagent_runtime import free_port


def _choose(monkeypatch, **params):
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    return aimodel.choose(RunbookConfig.from_sources(params, env={}), "http://127.0.0.1:1/v1")


def test_offline_is_the_default_and_labelled(monkeypatch):
    choice = _choose(monkeypatch)
    assert choice.offline and choice.endpoint.label == "model: offline rules, not an LLM"


@pytest.mark.parametrize(("params", "problem", "remedy"), [
    ({"aiops_llm_provider": "gpt"}, "unknown model provider 'gpt'", "offline, openai, anthropic, gemini, ollama"),
    ({"aiops_llm_provider": "openai"}, "needs a model name", "aiops_model"),
    ({"aiops_llm_provider": "anthropic", "aiops_model": "claude"}, "needs its key in $ANTHROPIC_API_KEY",
     "export ANTHROPIC_API_KEY"),
])
def test_bad_choices_name_problem_and_fix(monkeypatch, params, problem, remedy):
    choice = _choose(monkeypatch, **params)
    assert choice.endpoint is None
    assert problem in choice.problem and remedy in choice.remedy


def test_dead_base_url_is_found_before_any_agent_starts(monkeypatch):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    choice = _choose(monkeypatch, aiops_llm_provider="openai", aiops_model="llama3.1", aiops_llm_base_url=dead)
    assert choice.endpoint is None
    assert f"the model endpoint {dead} does not answer" in choice.problem
    assert "aiops_llm_base_url" in choice.remedy


def test_a_key_is_never_part_of_the_endpoint(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret-value-123")
    choice = aimodel.choose(RunbookConfig.from_sources(
        {"aiops_llm_provider": "anthropic", "aiops_model": "claude-x"}, env={}))
    assert choice.endpoint is not None and choice.endpoint.key_env == "ANTHROPIC_API_KEY"
    assert "sk-ant-secret-value-123" not in repr(choice)

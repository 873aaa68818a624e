"""kagent's real agent runtime (kagent-adk) on loopback: A2A message/send in, kubectl through our MCP
server, answers from the offline model (or a clear failure when the model endpoint is dead)."""

from __future__ import annotations

import pytest

from todo_runbook.kagent_runtime import AgentRuntime, ModelEndpoint, free_port
from todo_runbook.kubectl_mcp import read_log
from todo_runbook.opsrules import OFFLINE_LABEL, OFFLINE_MODEL
from todo_runbook.providers import ClusterTarget

from .conftest import mcp_server
from .test_kubectl_mcp import _dead_cluster


def _offline(model) -> ModelEndpoint:
    return ModelEndpoint("openai", OFFLINE_MODEL, model.base_url, OFFLINE_LABEL)


def _ask(agent_venv, tmp_path, target: ClusterTarget, endpoint: ModelEndpoint, prompt: str, stream: bool = True):
    proc, url, log = mcp_server(agent_venv, target, tmp_path)
    try:
        with AgentRuntime(agent_venv.path, tmp_path / "agent", endpoint, url, stream=stream) as runtime:
            reply = runtime.send(prompt, timeout_s=180)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return reply, read_log(log)


@pytest.mark.parametrize("stream", [True, False], ids=["streaming", "non-streaming"])
def test_runtime_runs_kubectl_and_answers(agent_venv, offline_model, tmp_path, stream):
    """The whole loop without a cluster: model -> tool call -> MCP -> real kubectl (which finds nothing
    listening) -> model reads the result -> final answer over A2A."""
    reply, calls = _ask(agent_venv, tmp_path, _dead_cluster(tmp_path), _offline(offline_model),
                        "Show me all pods in shop namespace", stream)
    assert reply.ok, reply.error
    assert [c.args for c in calls] == ["get pods -n shop -o wide"]
    assert calls[0].exit_code == 1 and "127.0.0.1:9" in calls[0].output
    assert reply.answer.startswith(f"[{OFFLINE_LABEL}]")
    assert "kubectl get pods -n shop -o wide" in reply.answer
    model_turns = offline_model.requests
    assert [t["stream"] for t in model_turns] == [stream, stream]
    assert [t["final"] for t in model_turns] == [False, True]


def test_dead_model_endpoint_is_a_clear_failure(agent_venv, tmp_path):
    dead = ModelEndpoint("openai", "some-model", f"http://127.0.0.1:{free_port()}/v1", "model: dead endpoint")
    reply, calls = _ask(agent_venv, tmp_path, _dead_cluster(tmp_path), dead, "List all deployments")
    assert not reply.ok
    assert calls == []  # no model, no tool call
    assert "agent ended in state 'failed' (API_ERROR): Connection error." in reply.error
    assert "aiops_llm_base_url" in reply.error  # names the fix


@pytest.mark.cluster
def test_runtime_answers_from_the_test_bed(agent_venv, offline_model, testbed, tmp_path):
    target = ClusterTarget("testbed", "test bed", testbed.context, testbed.kubeconfig)
    reply, calls = _ask(agent_venv, tmp_path, target, _offline(offline_model), "analyze cluster health")
    assert reply.ok, reply.error
    # The agent issues the three calls at once; the MCP log keeps them in the order they finished.
    assert sorted(c.args for c in calls) == sorted(["get nodes -o wide", "get pods -A",
                                                    "get events -A --field-selector type=Warning"])
    nodes = next(c for c in calls if c.args == "get nodes -o wide")
    assert nodes.exit_code == 0
    assert nodes.command.endswith(f"--context {testbed.context} get nodes -o wide")
    assert nodes.output.splitlines()[0].split()[:2] == ["NAME", "STATUS"]
    first_node = nodes.output.splitlines()[1].split()[0]
    assert first_node in reply.answer  # the answer is written from what kubectl printed

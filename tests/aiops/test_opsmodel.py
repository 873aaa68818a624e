"""The offline operations model, spoken to with the real `openai` SDK over HTTP on loopback."""

from __future__ import annotations

import json

import openai  # the real SDK, installed with the backend's lock by `make setup`
import pytest

from todo_runbook.opsmodel import OpsModelServer
from todo_runbook.opsrules import OFFLINE_LABEL, ToolResult, answer, change_calls, namespace_in, read_calls

KUBECTL_TOOL = {"type": "function", "function": {
    "name": "kubectl", "description": "run kubectl",
    "parameters": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}}
PODS = ("NAME                       READY   STATUS             RESTARTS   AGE\n"
        "web-7d9c-abcde             1/1     Running            0          5m\n"
        "fault-pull-error-5f-xyz    0/1     ImagePullBackOff   0          2m\n")


@pytest.fixture(scope="module")
def model():
    with OpsModelServer() as server:
        yield server


@pytest.fixture
def client(model):
    return openai.OpenAI(base_url=model.base_url, api_key="no-key-needed", max_retries=0, timeout=10)


def _tool_message(call_id: str, text: str) -> dict:
    # What agents send back: kagent wraps the MCP result as JSON, kubectl-ai sends plain text.
    return {"role": "tool", "tool_call_id": call_id, "content": json.dumps({"content": [{"type": "text",
                                                                                         "text": text}]})}


def test_non_streaming_asks_for_read_only_kubectl_calls(client):
    resp = client.chat.completions.create(
        model="anything", tools=[KUBECTL_TOOL],
        messages=[{"role": "user", "content": "Show me all pods in shop namespace"}])
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert [c.function.name for c in calls] == ["kubectl"]
    assert json.loads(calls[0].function.arguments) == {"command": "kubectl get pods -n shop -o wide"}
    assert resp.system_fingerprint == OFFLINE_LABEL


def test_non_streaming_final_answer_reads_the_tool_output(client):
    first = client.chat.completions.create(
        model="m", tools=[KUBECTL_TOOL], messages=[{"role": "user", "content": "Why are my pods crashing in "
                                                                                "namespace shop?"}])
    message = first.choices[0].message
    assert len(message.tool_calls) == 3  # pods, events, endpoints
    history = [{"role": "user", "content": "Why are my pods crashing in namespace shop?"},
               message.model_dump(exclude_none=True)]
    for call in message.tool_calls:
        history.append(_tool_message(call.id, PODS if "get pods" in call.function.arguments else "No resources"))
    final = client.chat.completions.create(model="m", tools=[KUBECTL_TOOL], messages=history)
    assert final.choices[0].finish_reason == "stop"
    text = final.choices[0].message.content
    assert text.startswith(f"[{OFFLINE_LABEL}]")
    assert "pod fault-pull-error-5f-xyz is ImagePullBackOff" in text
    assert "web-7d9c-abcde" not in text.split("Problems found:")[1]  # the healthy pod is not a problem


def test_streaming_tool_call_then_empty_delta_with_finish_reason(client):
    stream = client.chat.completions.create(
        model="m", tools=[KUBECTL_TOOL], stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "List all deployments"}])
    chunks = list(stream)  # the SDK stops at `data: [DONE]`
    assert len(chunks) == 2
    first, last = chunks
    call = first.choices[0].delta.tool_calls[0]
    assert call.index == 0 and call.function.name == "kubectl"
    assert json.loads(call.function.arguments) == {"command": "kubectl get deployments -A -o wide"}
    assert first.choices[0].finish_reason is None
    assert last.choices[0].finish_reason == "tool_calls"
    delta = last.choices[0].delta
    assert not delta.content and not delta.tool_calls and not delta.role
    assert last.usage is not None


def test_streaming_final_text(client):
    messages = [{"role": "user", "content": "Show me all pods in shop namespace"},
                {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {
                    "name": "kubectl", "arguments": json.dumps({"command": "kubectl get pods -n shop -o wide"})}}]},
                _tool_message("c1", PODS)]
    chunks = list(client.chat.completions.create(model="m", tools=[KUBECTL_TOOL], stream=True, messages=messages))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert OFFLINE_LABEL in text and "kubectl get pods -n shop -o wide: 2 row(s)" in text


def test_no_kubectl_tool_offered_gets_a_plain_answer(client):
    resp = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "List all deployments"}])
    assert resp.choices[0].finish_reason == "stop"
    assert "No kubectl tool was offered" in resp.choices[0].message.content


def test_bad_request_is_a_400_not_a_crash(model):
    import urllib.error
    import urllib.request

    req = urllib.request.Request(model.base_url + "/chat/completions", b"{not json", {"Content-Type": "x"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 400
    with urllib.request.urlopen(model.base_url + "/models", timeout=5) as resp:  # still serving
        assert resp.status == 200


def test_models_list(client):
    assert [m.id for m in client.models.list().data] == ["todo-runbook-offline-rules"]


# -- the rules, directly ------------------------------------------------------------------------
@pytest.mark.parametrize(("prompt", "namespace"), [
    ("Show me all pods in todo namespace", "todo"),
    ("optimize resource allocation for shop namespace", "shop"),
    ("Check namespace health for namespace web", "web"),
    ("analyze cluster health", None),
    ("calculate estimated cost for this cluster setup", None),
])
def test_namespace_in_prompt(prompt, namespace):
    assert namespace_in(prompt) == namespace


READ_VERBS = ("get", "logs", "top", "describe")


@pytest.mark.parametrize("prompt", [
    "Show me all pods in todo namespace", "Show status of todo-app deployment in namespace todo",
    "List all deployments", "Show logs from backend pods for last 10 minutes in namespace todo",
    "Why are my pods crashing in namespace todo?", "Investigate high memory usage in namespace todo",
    "analyze cluster health", "optimize resource allocation for todo namespace",
    "calculate estimated cost for this cluster setup",
    "check for security vulnerabilities in deployments in namespace todo", "Check namespace health for namespace todo",
    "Scale backend to 4 replicas in namespace todo",
])
def test_every_plan_prompt_maps_to_read_only_calls(prompt):
    calls = read_calls(prompt)
    assert calls, prompt
    assert all(c.split()[0] in READ_VERBS for c in calls)


def test_scale_is_a_second_step_built_from_what_was_read():
    seen = [ToolResult("get deployments -n todo -o wide",
                       "NAME READY UP-TO-DATE AVAILABLE AGE\ntodo-todo-app-backend 2/2 2 2 1h\n"
                       "todo-todo-app-frontend 2/2 2 2 1h")]
    assert change_calls("Scale backend to 4 replicas in namespace todo", seen) == [
        "scale deployment/todo-todo-app-backend -n todo --replicas=4"]
    assert change_calls("Deploy todo-frontend with 2 replicas in namespace todo", seen) == [
        "scale deployment/todo-todo-app-frontend -n todo --replicas=2"]
    assert change_calls("Show me all pods in todo namespace", seen) == []


def test_a_refusal_is_reported_as_such():
    text = answer("Scale backend to 4 replicas", [ToolResult("scale deployment/b --replicas=4",
                                                             "refused: 'kubectl scale' changes the cluster")])
    assert "refused" in text and "nothing was changed" in text

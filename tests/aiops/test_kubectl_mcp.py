"""Our read-only kubectl MCP server: its policy, and the server itself over MCP's streamable HTTP,
spoken to with the `mcp` package's own client (run by the agent venv, where `mcp` is installed)."""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest

from todo_runbook.kubectl_mcp import KubectlRunner, read_log, refusal, split
from todo_runbook.providers import ClusterTarget

from .conftest import mcp_server

CLIENT = textwrap.dedent('''
    import asyncio, json, sys
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async def main(url, commands):
        async with streamablehttp_client(url) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = await session.list_tools()
                out = {"tools": [t.name for t in tools.tools], "results": []}
                for command in commands:
                    res = await session.call_tool("kubectl", {"command": command})
                    out["results"].append("".join(c.text for c in res.content if hasattr(c, "text")))
                print(json.dumps(out))

    asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))
''')


@pytest.mark.parametrize("command", [
    "scale deployment/todo-backend -n todo --replicas=4", "delete pod x", "apply -f x.yaml",
    "rollout restart deployment/x", "exec -it pod -- sh", "patch deployment x -p {}", "label pod x a=b",
])
def test_mutating_verbs_are_refused(command):
    why = refusal(split(command), allow_mutating=False)
    assert why.startswith("refused:") and "aiops_allow_mutating=true" in why


@pytest.mark.parametrize("command", [
    "get pods -n todo -o wide", "kubectl describe pod x -n todo", "logs -n todo -l app=x --since=10m",
    "top pods -n todo", "rollout status deployment/x -n todo", "get events -A --sort-by=.lastTimestamp",
])
def test_read_verbs_are_allowed(command):
    assert refusal(split(command), allow_mutating=False) == ""


@pytest.mark.parametrize("command", [
    "get pods --context other", "get pods --kubeconfig=/tmp/other", "get pods -s https://elsewhere:6443",
    "get secrets -n todo -o yaml", "get secret/todo-backend -o json", "config view --raw",
])
def test_binding_and_secrets_are_never_negotiable(command):
    assert refusal(split(command), allow_mutating=True).startswith("refused:")


def test_mutating_allowed_only_when_asked():
    assert refusal(split("scale deployment/x --replicas=4"), allow_mutating=True) == ""


def test_runner_pins_the_cluster_and_bounds_the_time(tmp_path):
    log = tmp_path / "calls.jsonl"
    runner = KubectlRunner("/k/config", "ctx", timeout_s=5, kubectl="kubectl", log=log)
    assert runner.argv(["get", "pods"]) == ["kubectl", "--kubeconfig", "/k/config", "--context", "ctx", "get", "pods"]
    hanging = KubectlRunner("/k/config", "ctx", timeout_s=1, kubectl=str(_sleeper(tmp_path)), log=log)
    record = hanging.call("get pods")
    assert record.exit_code is None and "did not finish within 1 s" in record.output
    assert [r.command.split()[-2:] for r in read_log(log)] == [["get", "pods"]]


def _sleeper(folder):
    script = folder / "slow-kubectl"
    script.write_text("#!/bin/sh\nsleep 30\n")
    script.chmod(0o755)
    return script


def _dead_cluster(tmp_path) -> ClusterTarget:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(textwrap.dedent("""\
        apiVersion: v1
        kind: Config
        clusters: [{name: dead, cluster: {server: "https://127.0.0.1:9"}}]
        users: [{name: u, user: {token: offline-test}}]
        contexts: [{name: dead, context: {cluster: dead, user: u}}]
        current-context: dead
    """))
    return ClusterTarget("context", "no cluster answers here", "dead", str(kubeconfig))


def _call(agent_venv, url: str, commands: list[str]) -> dict:
    res = subprocess.run([str(agent_venv.python), "-c", CLIENT, url, json.dumps(commands)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout)


def test_server_refuses_a_mutating_command_over_mcp(agent_venv, tmp_path):
    proc, url, log = mcp_server(agent_venv, _dead_cluster(tmp_path), tmp_path)
    try:
        out = _call(agent_venv, url, ["kubectl scale deployment/todo-backend -n todo --replicas=4",
                                      "get pods -n todo"])
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert out["tools"] == ["kubectl"]
    refused, ran = out["results"]
    assert refused.startswith("refused: 'kubectl scale' changes the cluster")
    # The read ran real kubectl, pinned to the server's kubeconfig and context (and failed: nothing listens).
    assert "--context dead get pods -n todo" in ran and "exit code 1" in ran
    calls = read_log(log)
    assert [bool(c.refused) for c in calls] == [True, False]
    assert calls[0].exit_code is None and calls[1].exit_code == 1

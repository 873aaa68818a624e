"""`kagent invoke` for a cluster that runs kagent: the argv, and the kubeconfig pinned to the chosen context.

The kagent CLI is not installed here, so a STAND-IN script named `kagent` goes first on PATH
(tests/aiops/standin.py): it records the argv and the kubeconfig it was given and prints a canned
reply. The kagent CLI has no --context flag and port-forwards to its controller on $KUBECONFIG's
current context, so what must hold is that KUBECONFIG names a kubeconfig whose only and current
context is the chosen one, whatever the user's own KUBECONFIG says.
"""

from __future__ import annotations

import os

import yaml

from todo_runbook import kagent_cli

from .standin import StandIn, put_first_on_path, two_context_kubeconfig


def test_invoke_runs_the_agent_on_the_chosen_context_only(tmp_path, monkeypatch):
    tool = StandIn(tmp_path, "kagent").write(stdout="The cluster is healthy: 3 pods Running.\n")
    put_first_on_path(monkeypatch, tool)
    user = two_context_kubeconfig(tmp_path)
    monkeypatch.setenv("KUBECONFIG", str(user))  # its current context is `other`

    res = kagent_cli.invoke(str(user), "chosen", "k8s-agent", "analyze cluster health", 30)

    (call,) = tool.calls()
    assert call["argv"] == ["invoke", "--agent", "k8s-agent", "--task", "analyze cluster health"]
    pinned = call["env"]["KUBECONFIG"]
    assert pinned != str(user)
    config = yaml.safe_load(call["kubeconfigs"][pinned]["text"])
    assert config["current-context"] == "chosen" and [c["name"] for c in config["contexts"]] == ["chosen"]
    assert [u["name"] for u in config["users"]] == ["chosen-user"]
    assert call["kubeconfigs"][pinned]["mode"] == "0o600"
    assert res.outcome == "ok" and res.output == "The cluster is healthy: 3 pods Running."
    assert res.command == "KUBECONFIG='<chosen only>' kagent invoke --agent k8s-agent --task 'analyze cluster health'"


def test_a_failing_invoke_says_why(tmp_path, monkeypatch):
    tool = StandIn(tmp_path, "kagent").write(stderr="Error connecting to server. Please run 'install' command first.\n",
                                             code=1)
    put_first_on_path(monkeypatch, tool)
    res = kagent_cli.invoke(str(two_context_kubeconfig(tmp_path)), "chosen", "k8s-agent", "analyze", 30)
    assert res.outcome.startswith("failed: exit 1: Error connecting to server")


def test_no_kagent_cli_and_a_hang_are_clear_failures(tmp_path, monkeypatch):
    user = str(two_context_kubeconfig(tmp_path))
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    missing = kagent_cli.invoke(user, "chosen", "k8s-agent", "analyze", 30)
    assert missing.outcome.startswith("failed: 'kagent' is not installed or not on PATH")
    assert missing.outcome.endswith("— install kagent (see `todo-runbook preflight` for a hint)")

    tool = StandIn(tmp_path, "kagent").write(stdout="late", sleep=30)
    monkeypatch.setenv("PATH", f"{tool.bin}{os.pathsep}{empty}")
    hung = kagent_cli.invoke(user, "chosen", "k8s-agent", "analyze", 1)
    assert hung.outcome.startswith("failed: no answer within 1 s (raise aiops_timeout_s")
    assert hung.seconds < 10

"""How the runbook calls kubectl-ai: the argv and environment it passes, and how it reads the answer.

kubectl-ai cannot be installed here (see todo_runbook/kubectl_ai.py), so these tests put a STAND-IN
script named `kubectl-ai` first on PATH (tests/aiops/standin.py). The stand-in does nothing kubectl-ai
does: it records the argv, environment and kubeconfig it was given and prints a canned reply in the
form kubectl-ai's terminal output takes ("Running: kubectl ..." before each tool call; in --quiet mode
a command needing approval ends the run with a message naming --skip-permissions). What is tested is
our side: the command line, the pinned cluster, the endpoint, and the outcome we record.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from todo_runbook import kubectl_ai
from todo_runbook.kagent_runtime import ModelEndpoint

from .standin import StandIn, put_first_on_path, two_context_kubeconfig

MODEL = ModelEndpoint("openai", "todo-runbook-offline-rules", "http://127.0.0.1:9/v1", "model: offline rules")
READ_REPLY = "\n  Running: kubectl get pods -n todo\n\nNAME READY STATUS\nweb-1 1/1 Running\nAll pods are Running.\n"
# the form of kubectl-ai's RunOnce (--quiet) message when a command needs approval
APPROVAL_REPLY = ("RunOnce mode cannot handle permission requests. The following commands require approval:\n"
                  "* kubectl scale deployment todo-backend --replicas=4 -n todo\n"
                  "Use --skip-permissions flag to bypass permission checks in RunOnce mode.\n")


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    tool = StandIn(tmp_path, "kubectl-ai")
    put_first_on_path(monkeypatch, tool)
    return tool


@pytest.fixture
def user_kubeconfig(tmp_path, monkeypatch):
    path = two_context_kubeconfig(tmp_path)
    monkeypatch.setenv("KUBECONFIG", str(path))  # the user's own current context is `other`
    return path


def _flag(argv, name):
    return argv[argv.index(name) + 1]


def test_a_read_prompt_names_the_model_is_quiet_and_sees_only_the_chosen_cluster(stand_in, user_kubeconfig,
                                                                                  monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    stand_in.write(stdout=READ_REPLY)
    res = kubectl_ai.run(MODEL, str(user_kubeconfig), "chosen", "Show me all pods in todo namespace", False, 30)

    (call,) = stand_in.calls()
    argv = call["argv"]
    assert _flag(argv, "--llm-provider") == "openai" and _flag(argv, "--model") == "todo-runbook-offline-rules"
    assert "--quiet" in argv and "--skip-permissions" not in argv
    assert argv[-1] == "Show me all pods in todo namespace"
    pinned = _flag(argv, "--kubeconfig")
    assert pinned != str(user_kubeconfig) and call["env"]["KUBECONFIG"] == pinned  # its kubectl is pinned too
    config = yaml.safe_load(call["kubeconfigs"][pinned]["text"])
    assert config["current-context"] == "chosen"
    assert [c["name"] for c in config["contexts"]] == ["chosen"]
    assert [c["name"] for c in config["clusters"]] == ["chosen-cluster"]
    assert "other-token" not in call["kubeconfigs"][pinned]["text"]
    ca = config["clusters"][0]["cluster"]
    assert "certificate-authority" not in ca  # the file next to the user's kubeconfig is inlined
    assert base64.b64decode(ca["certificate-authority-data"]).startswith(b"-----BEGIN CERTIFICATE-----\nCHOSEN")
    assert call["kubeconfigs"][pinned]["mode"] == "0o600"  # it carries credentials
    assert call["env"]["OPENAI_ENDPOINT"] == "http://127.0.0.1:9/v1"
    assert call["env"]["OPENAI_API_KEY"] == "no-key-needed"  # its OpenAI client will not start without one

    assert res.outcome == "ok" and "All pods are Running." in res.output
    assert [c["command"] for c in res.tool_calls] == ["kubectl get pods -n todo"]
    assert "<chosen only>" in res.command and pinned not in res.command
    assert not Path(pinned).exists()  # the pinned copy lived only for the call


def test_the_users_key_is_passed_through_untouched(stand_in, user_kubeconfig, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-user-own-key")
    stand_in.write(stdout=READ_REPLY)
    res = kubectl_ai.run(MODEL, str(user_kubeconfig), "chosen", "List all deployments", False, 30)
    assert stand_in.calls()[0]["env"]["OPENAI_API_KEY"] == "sk-user-own-key"
    assert "sk-user-own-key" not in res.command


def test_a_mutating_prompt_without_permission_is_recorded_as_a_refusal(stand_in, user_kubeconfig):
    stand_in.write(stdout=APPROVAL_REPLY, code=1)
    res = kubectl_ai.run(MODEL, str(user_kubeconfig), "chosen", "Scale backend to 4 replicas", False, 30)
    assert "--skip-permissions" not in stand_in.calls()[0]["argv"]
    assert res.outcome.startswith("refused:") and "aiops_allow_mutating=true" in res.outcome
    assert not res.outcome.startswith("failed")
    assert res.tool_calls == []  # the command it listed for approval never ran


def test_logs_that_say_permission_denied_are_an_answer_not_a_refusal(stand_in, user_kubeconfig):
    stand_in.write(stdout="\n  Running: kubectl logs -n todo -l app=backend --since=10m\n"
                          "open /data/cache: permission denied\nThe backend cannot write its cache folder.\n")
    res = kubectl_ai.run(MODEL, str(user_kubeconfig), "chosen", "Show logs from backend pods", False, 30)
    assert res.outcome == "ok"


def test_skip_permissions_is_passed_only_when_mutating_is_allowed(stand_in, user_kubeconfig):
    stand_in.write(stdout="\n  Running: kubectl scale deployment todo-backend --replicas=4 -n todo\n"
                          "deployment.apps/todo-backend scaled\n")
    res = kubectl_ai.run(MODEL, str(user_kubeconfig), "chosen", "Scale backend to 4 replicas", True, 30)
    argv = stand_in.calls()[0]["argv"]
    assert "--skip-permissions" in argv and argv.index("--skip-permissions") < len(argv) - 1
    assert res.outcome == "ok"
    assert res.tool_calls[0]["command"] == "kubectl scale deployment todo-backend --replicas=4 -n todo"


def test_an_ollama_model_gets_its_provider_and_host(stand_in, user_kubeconfig):
    stand_in.write(stdout=READ_REPLY)
    model = ModelEndpoint("ollama", "llama3.1", "http://127.0.0.1:11434", "model: ollama llama3.1")
    kubectl_ai.run(model, str(user_kubeconfig), "chosen", "List all deployments", False, 30)
    call = stand_in.calls()[0]
    assert _flag(call["argv"], "--llm-provider") == "ollama" and _flag(call["argv"], "--model") == "llama3.1"
    assert call["env"]["OLLAMA_HOST"] == "http://127.0.0.1:11434"


def test_a_context_the_kubeconfig_lacks_fails_clearly_and_never_runs_the_tool(stand_in, user_kubeconfig):
    stand_in.write(stdout=READ_REPLY)
    res = kubectl_ai.run(MODEL, str(user_kubeconfig), "absent", "List all deployments", False, 30)
    assert res.outcome.startswith("failed: context 'absent' is not in the kubeconfig")
    assert "chosen, other" in res.outcome and "kube_context" in res.outcome
    assert stand_in.calls() == []


def test_a_hanging_kubectl_ai_is_bounded_by_the_timeout(stand_in, user_kubeconfig):
    stand_in.write(stdout=READ_REPLY, sleep=30)
    res = kubectl_ai.run(MODEL, str(user_kubeconfig), "chosen", "List all deployments", False, 1)
    assert res.outcome == "failed: no answer within 1 s (raise aiops_timeout_s)"
    assert res.seconds < 10


def test_pinning_follows_kubeconfig_lists_like_kubectl(tmp_path):
    """KUBECONFIG=a:b: the first file naming an entry wins, the first current-context wins; no context given
    means that current context."""
    user = two_context_kubeconfig(tmp_path)
    first = tmp_path / "first"
    first.write_text(yaml.safe_dump({"current-context": "chosen", "contexts": [
        {"name": "other", "context": {"cluster": "chosen-cluster", "user": "chosen-user"}}]}))
    out = tmp_path / "out"
    out.mkdir()
    pinned = yaml.safe_load(kubectl_ai.pinned_kubeconfig(f"{first}:{user}", "", out).read_text())
    assert pinned["current-context"] == "chosen"
    assert pinned["contexts"][0]["context"]["namespace"] == "todo"
    shadowed = yaml.safe_load(kubectl_ai.pinned_kubeconfig(f"{first}:{user}", "other", out).read_text())
    assert shadowed["clusters"][0]["name"] == "chosen-cluster"  # `other` as the first file defines it


@pytest.mark.parametrize("content", [None, "just text\n", "clusters: [\n"])
def test_an_unreadable_kubeconfig_is_one_clear_line(tmp_path, content):
    path = tmp_path / "kubeconfig"
    if content is not None:
        path.write_text(content)
    res = kubectl_ai.run(MODEL, str(path), "chosen", "List all deployments", False, 30)
    assert res.outcome.startswith(f"failed: cannot read the kubeconfig {path}: ")
    assert "names a readable kubeconfig file" in res.outcome and "just text" not in res.outcome

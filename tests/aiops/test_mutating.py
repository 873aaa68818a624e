"""The plan's mutating prompts ("Scale backend to 4 replicas", "Deploy todo-frontend with 2 replicas") on the
test bed's real node, with -p aiops_allow_mutating=true: the agent really scales through the MCP server, the
step checks the API shows the new Ready count, and puts every deployment back afterwards. (Without the
parameter the MCP server refuses the same calls: tests/aiops/test_kubectl_mcp.py.)"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from todo_runbook import aiops, faults
from todo_runbook.config import RunbookConfig
from todo_runbook.kube import Kube
from todo_runbook.providers import ClusterTarget

pytestmark = [pytest.mark.cluster, pytest.mark.node, pytest.mark.slow]
COMPONENTS = {"backend": 2, "frontend": 1}


def deployment(component: str, replicas: int, image: str) -> dict[str, Any]:
    """A stand-in for the chart's deployment: same name and labels, the node's pause image (fits any node)."""
    labels = {"app.kubernetes.io/instance": "todo", "app.kubernetes.io/component": component}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"todo-todo-app-{component}", "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"terminationGracePeriodSeconds": 1,
                                           "containers": [{"name": component, "image": image,
                                                           "imagePullPolicy": "IfNotPresent"}]}}}}


def test_scale_prompts_change_the_cluster_are_verified_and_restored(testbed, agent_venv, tmp_path: Path) -> None:
    if not testbed.has_node:
        pytest.skip(f"the test bed has no real node: {testbed.node_error}")
    kube = Kube(testbed.api_client())
    namespace = f"aiops-mut-{secrets.token_hex(3)}"
    try:
        kube.core.create_namespace({"metadata": {"name": namespace}})
        image = faults.node_image(kube, "default")
        for component, replicas in COMPONENTS.items():
            kube.apps.create_namespaced_deployment(namespace, deployment(component, replicas, image))
        target = ClusterTarget("testbed", "test bed", testbed.context, testbed.kubeconfig)
        # The plan gives the changes to kubectl-ai; not installed here, so kagent's runtime answers them.
        config = RunbookConfig(namespace=namespace, aiops_tools=["kubectl-ai", "kagent"], aiops_allow_mutating=True,
                               aiops_timeout_s=120)
        result = aiops.run_aiops(target, config, tmp_path / "transcripts")
        # Each kubectl-ai prompt has a "skipped: not installed" row (with the command a user would type) and the
        # row of the runtime that answered it.
        changes = [r for r in result.runs if r.prompt.startswith(("Scale", "Deploy"))
                   and not r.outcome.startswith("skipped")]
        assert len(changes) == 3 and all(r.outcome == "ok" for r in changes), [(r.prompt, r.outcome) for r in changes]
        scale_backend = next(r for r in changes if r.prompt.startswith("Scale backend"))
        calls = [c for c in scale_backend.tool_calls if "scale" in c["command"]]
        assert calls and calls[0]["exit_code"] == 0 and "--replicas=4" in calls[0]["command"], scale_backend.tool_calls
        assert "4 Ready backend pods of 4 asked" in scale_backend.verified, scale_backend.verified
        # Afterwards every deployment is back at its replica count, all Ready.
        current = {d["metadata"]["name"]: (d["spec"]["replicas"], (d.get("status") or {}).get("readyReplicas"))
                   for d in kube.deployments(namespace)}
        assert current == {f"todo-todo-app-{c}": (n, n) for c, n in COMPONENTS.items()}, (current, result.restored)
    finally:
        kube.core.delete_namespace(namespace)
        kube.close()

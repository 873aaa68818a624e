"""Faults injected into a scratch namespace on the test bed's real node, each named by the built-in
diagnosis with its remedy, then removed (and proven gone). The agent is asked "why" for each."""

from __future__ import annotations

import secrets
import time

import pytest

from todo_runbook import faults
from todo_runbook.kagent_runtime import AgentRuntime, ModelEndpoint
from todo_runbook.kube import Kube
from todo_runbook.kubectl_mcp import read_log
from todo_runbook.opsrules import OFFLINE_LABEL, OFFLINE_MODEL
from todo_runbook.providers import ClusterTarget

from .conftest import mcp_server

pytestmark = [pytest.mark.cluster, pytest.mark.node, pytest.mark.slow]
EXPECTED_RULES = {"pull-error": {"image_pull"}, "crash-loop": {"crash_loop"}, "unschedulable": {"pending_pod"},
                  "not-ready": {"failing_probe", "not_ready"}, "no-endpoints": {"service_no_endpoints"}}


def test_each_injected_fault_is_diagnosed_and_the_namespace_removed(testbed, agent_venv, offline_model, tmp_path):
    if not testbed.has_node:
        pytest.skip(f"the test bed has no real node: {testbed.node_error}")
    kube = Kube(testbed.api_client())
    scratch = faults.scratch_namespace(f"aiops-test-{secrets.token_hex(3)}")
    try:
        image = faults.node_image(kube, "default")
        assert faults.inject(kube, scratch, image) == len(faults.FAULTS)
        _, results, waited = faults.wait_until_diagnosed(kube, scratch, timeout_s=240)
        by_fault = {r.fault: r for r in results}
        undiagnosed = {k: r.diagnosis for k, r in by_fault.items() if not r.diagnosed}
        assert not undiagnosed, f"after {waited} s: {undiagnosed}"
        for key, rules in EXPECTED_RULES.items():
            assert by_fault[key].diagnosis.split(":")[0] in rules, by_fault[key].diagnosis
            assert by_fault[key].remedy
        # The agent, asked in plain words, looks with kubectl and names the cause from what it printed.
        target = ClusterTarget("testbed", "test bed", testbed.context, testbed.kubeconfig)
        proc, url, log = mcp_server(agent_venv, target, tmp_path)
        endpoint = ModelEndpoint("openai", OFFLINE_MODEL, offline_model.base_url, OFFLINE_LABEL)
        try:
            with AgentRuntime(agent_venv.path, tmp_path / "agent", endpoint, url) as runtime:
                pull = runtime.send(faults.FAULTS[0].question.format(namespace=scratch), timeout_s=180)
                service = runtime.send(faults.FAULTS[4].question.format(namespace=scratch), timeout_s=180)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        assert pull.ok and service.ok
        assert "fault-pull-error" in pull.answer
        assert "ImagePullBackOff" in pull.answer or "ErrImagePull" in pull.answer
        assert "service fault-no-endpoints has no endpoints" in service.answer
        assert all(c.exit_code == 0 for c in read_log(log))
    finally:
        requested_at = time.monotonic()
        problem = faults.request_removal(kube, scratch)
        # Read back as the AIOps step does, after other work: pretend 10 min passed since the request; the
        # confirmation still reads the API (its bound counts from now), so a slow step is not a false "still present".
        removed, proof = (False, problem) if problem else faults.confirm_removed(kube, scratch, requested_at - 600,
                                                                                 timeout_s=180)
        kube.close()
    assert removed, proof
    assert "404 NotFound" in proof

"""Capacity before deploy, against the real test bed: a release that cannot fit is refused at preflight, with the
numbers, and nothing is applied; the shipped default fits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import run_runbook
from todo_runbook import capacity
from todo_runbook.config import RunbookConfig
from todo_runbook.providers import ClusterTarget
from todo_runbook.providers import testbed as testbed_provider

pytestmark = pytest.mark.cluster


def _target(testbed) -> ClusterTarget:
    return ClusterTarget("testbed", "test", testbed.context, testbed.kubeconfig)


def test_the_shipped_default_fits_the_test_bed(testbed, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", testbed.env()["PATH"])
    room = capacity.check(_target(testbed), RunbookConfig())
    assert room.fits and room.nodes, room
    names = {w.name for w in room.demand.workloads}
    assert any("backend" in n for n in names) and any("frontend" in n for n in names)
    # 2 backend + 2 frontend replicas, each Deployment with one surge pod
    assert sum(w.replicas for w in room.demand.workloads if w.kind == "Deployment") == 4
    assert all(w.surge == 1 for w in room.demand.workloads if w.kind == "Deployment")


def test_too_big_a_release_is_refused_before_anything_is_applied(testbed, tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("backend:\n  resources:\n    requests:\n      cpu: \"64\"\n    limits:\n      cpu: \"64\"\n")
    run = run_runbook(testbed, tmp_path / "outputs", "too-big", "--steps", "deploy", "-p", f"values_files={big}",
                      "-p", "release=cap-check", "-p", "namespace=cap-check")
    assert run.returncode != 0
    preflight = run.evidence("preflight")
    assert preflight["status"] == "failed"
    error = preflight["error"]
    assert error["type"] == "CapacityError" and "CPU at peak" in error["problem"], error
    assert "allocatable" in error["problem"] and "backend_replicas=1" in error["remedy"]
    releases = testbed.run("helm", ["list", "-A", "-q"]).stdout.split()
    assert "cap-check" not in releases
    namespaces = testbed.run("kubectl", ["get", "ns", "-o", "name"]).stdout
    assert "namespace/cap-check" not in namespaces
    assert testbed.context == testbed_provider.CONTEXT

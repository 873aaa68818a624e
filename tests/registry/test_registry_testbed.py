"""The registry path on the test bed: the runbook builds, pushes to a Distribution registry with basic auth
(TLS from the test bed's registry CA), deploys, and the kubelet pulls: the pods' image IDs are the pushed
digests, the node's containerd holds the images as pulled (never imported), and the password is nowhere in
the run folder. Run under the test bed lock: `flock /tmp/todo-testbed.lock pytest tests/registry -m node`."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testcluster import registry as tc_registry
from testcluster.images import DOCKER_ID_LABEL
from testcluster.paths import Paths
from todo_runbook import registry

from .conftest import free_port, registry_credentials

pytestmark = [pytest.mark.cluster, pytest.mark.node, pytest.mark.docker, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def testbed_registry() -> Iterator[tc_registry.RegistryInfo]:
    """On the test bed's own state folder, so its node's containerd trusts the CA (hosts.toml)."""
    info = tc_registry.up(Paths.default(), name="registry-e2e", port=free_port(), auth=True)
    try:
        yield info
    finally:
        tc_registry.down(Paths.default(), name="registry-e2e")


@pytest.fixture(scope="module")
def registry_run(testbed: Any, testbed_registry, tmp_path_factory) -> dict[str, Any]:
    if not testbed.has_node:
        pytest.skip(f"test bed has no real node: {testbed.node_error}")
    outputs = tmp_path_factory.mktemp("registry-runbook")
    creds = registry_credentials(testbed_registry)
    env = {**testbed.env(), "KUBECONFIG": testbed.kubeconfig, registry.USERNAME_ENV: creds["username"],
           registry.PASSWORD_ENV: creds["password"]}
    cmd = [sys.executable, "-m", "todo_runbook", "run", "--run-id", "registry-1", "--steps",
           "build,load,deploy,verify,teardown", "-p", "provider=testbed", "-p", f"outputs_dir={outputs}",
           "-p", f"registry={testbed_registry.address}/todo", "-p", "namespace=todo-registry",
           "-p", "backend_replicas=1", "-p", "frontend_replicas=1", "-p", "health_requests=20",
           "-p", "rolling_update=false", "-p", "kill_pod=false"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=2400)
    _untag_pushed(testbed_registry.address)
    run_dir = outputs / "registry-1"

    def evidence(step: str) -> dict[str, Any]:
        return dict(json.loads((run_dir / "evidence" / f"{step}.json").read_text()))

    return {"proc": proc, "run_dir": run_dir, "evidence": evidence, "password": creds["password"],
            "registry": testbed_registry, "testbed": testbed}


def _untag_pushed(address: str) -> None:
    """The push tags name a registry that is gone after this module: leave no stale tags in the engine
    (the images themselves stay under their own names)."""
    import docker

    client = docker.from_env()
    for image in client.images.list():
        for tag in image.tags:
            if tag.startswith(f"{address}/"):
                client.images.remove(tag, noprune=True)


def test_the_images_were_pushed_with_their_digests(registry_run):
    load = registry_run["evidence"]("load")
    assert load["status"] == "ok", registry_run["proc"].stderr[-3000:]
    result = load["result"]
    base = f"{registry_run['registry'].address}/todo"
    assert result["registry"] == base and result["credentials_from"] == "environment"
    assert result["method"].startswith(f"push to {base}")
    images = {i["image"]: i for i in result["images"]}
    assert len(images) == 3, images  # backend, frontend, the in-cluster PostgreSQL
    assert all(ref.startswith(base + "/") and i["digest"].startswith("sha256:") for ref, i in images.items())


def test_the_pods_run_the_pushed_digests(registry_run):
    verify = registry_run["evidence"]("verify")
    report = verify["result"]["registry_images"]
    pushed = {i["image"]: i["digest"] for i in registry_run["evidence"]("load")["result"]["images"]}
    assert report["containers"], registry_run["proc"].stderr[-3000:]
    for container in report["containers"]:
        assert container["matches"], container
        assert container["image_id"].endswith("@" + pushed[container["image"]])
    assert {c["image"] for c in report["containers"]} == set(pushed)
    summary = json.loads((registry_run["run_dir"] / "summary.json").read_text())
    criterion = next(c for c in summary["criteria"] if c["key"] == "pods_run_pushed_digests")
    assert criterion["status"] == "pass"


def test_the_node_pulled_the_images_and_imported_none(registry_run):
    testbed = registry_run["testbed"]
    address = json.loads(Path(testbed.paths.cluster_json).read_text())["containerd_address"]
    listed = subprocess.run(["ctr", "-n", "k8s.io", "--address", address, "images", "ls"], capture_output=True,
                            text=True, check=True).stdout.splitlines()
    base = f"{registry_run['registry'].address}/todo/"
    ours = [line for line in listed if line.startswith(base)]
    assert ours, listed[:5]
    assert not any(DOCKER_ID_LABEL in line for line in ours), ours  # the import path labels what it imports


def test_the_password_is_nowhere_in_the_run_folder(registry_run):
    password = registry_run["password"]
    for path in registry_run["run_dir"].rglob("*"):
        if path.is_file():
            assert password not in path.read_text(errors="replace"), path
    deploy = registry_run["evidence"]("deploy")["result"]
    assert deploy["values"]["imagePullSecrets"] == [{"name": "todo-registry"}]

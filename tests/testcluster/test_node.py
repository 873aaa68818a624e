"""The test bed's real node: kubelet + containerd + CNI + kube-proxy, CoreDNS, Traefik, metrics-server.

Everything here talks to the real thing: a Go test server (tests/testcluster/probe_server) is built into
an image with the real Docker engine, loaded into the node's containerd the way minikube does, and run
as pods by the real kubelet. The last test takes the test bed down, proves nothing is left, and brings
it back for whatever runs after it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from testcluster import controlplane, images, node_cleanup, node_layout
from testcluster.build import find_go, go_env
from testcluster.components import KUBERNETES_VERSION
from tests.testcluster.node_support import wait_for

pytestmark = [pytest.mark.node, pytest.mark.cluster, pytest.mark.docker]

PROBE_IMAGE = "todo-testbed/probe-server:test"
PROBE_SOURCE = Path(__file__).resolve().parent / "probe_server"




@pytest.fixture(scope="module")
def probe_image(docker_engine_line: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Build the probe server image with the real Docker engine (static Go binary, FROM scratch)."""
    work = tmp_path_factory.mktemp("probe-image")
    env = go_env()
    env["CGO_ENABLED"] = "0"
    subprocess.run([find_go(), "build", "-trimpath", "-o", str(work / "probe-server"), "."], cwd=PROBE_SOURCE,
                   env=env, check=True, capture_output=True, timeout=600)
    shutil.copy(PROBE_SOURCE / "Dockerfile", work / "Dockerfile")
    subprocess.run(["docker", "build", "-q", "-t", PROBE_IMAGE, str(work)], check=True, capture_output=True,
                   timeout=300)
    return PROBE_IMAGE


@pytest.fixture(scope="module")
def loaded_image(real_node: Any, probe_image: str) -> images.LoadResult:
    address = real_node.ctx.facts()["containerd_address"]
    result = images.load_image(probe_image, address=address)
    print(f"image load {probe_image}: {result.seconds:.2f}s, {result.bytes / 1e6:.1f} MB ({result.command})")
    return result


@pytest.fixture(scope="module")
def namespace(real_node: Any) -> Iterator[str]:
    from kubernetes import client

    api = client.CoreV1Api(real_node.api_client())
    name = f"node-test-{uuid.uuid4().hex[:6]}"
    api.create_namespace({"metadata": {"name": name}})
    yield name
    from kubernetes.client.rest import ApiException

    try:
        api.delete_namespace(name)
    except ApiException as error:  # the down test restarts the test bed with a fresh etcd
        if error.status != 404:
            raise


def probe_pod(name: str, namespace: str, *, labels: dict[str, str], start_ready: bool, burn: bool = False,
              ) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": 2,
            "containers": [{
                "name": "server", "image": PROBE_IMAGE, "imagePullPolicy": "Never",
                "env": [{"name": "NAME", "value": name}, {"name": "START_READY", "value": "1" if start_ready else "0"},
                        {"name": "BURN", "value": "1" if burn else "0"}],
                "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1,
                                   "failureThreshold": 1, "successThreshold": 1},
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 2},
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
            }],
        },
    }


def service(name: str, namespace: str, selector: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}


@pytest.fixture(scope="module")
def workload(real_node: Any, loaded_image: images.LoadResult, namespace: str) -> dict[str, Any]:
    """Three pods (frontend, backend, flip) and two Services on the real node."""
    from kubernetes import client

    api = client.CoreV1Api(real_node.api_client())
    for role in ("frontend", "backend"):
        api.create_namespaced_pod(namespace, probe_pod(f"probe-{role}", namespace, labels={"role": role},
                                                       start_ready=True, burn=True))
        api.create_namespaced_service(namespace, service(f"probe-{role}", namespace, {"role": role}))
    api.create_namespaced_pod(namespace, probe_pod("probe-flip", namespace, labels={"role": "flip"},
                                                   start_ready=False))

    def pods_running() -> bool:
        pods = {p.metadata.name: p for p in api.list_namespaced_pod(namespace).items}
        return len(pods) == 3 and all(p.status.phase == "Running" and p.status.pod_ip for p in pods.values())

    wait_for(pods_running, "the probe pods to run", timeout=180)
    return {p.metadata.name: p for p in api.list_namespaced_pod(namespace).items}


def pod_ready(api: Any, namespace: str, name: str) -> bool:
    pod = api.read_namespaced_pod(name, namespace)
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


# ----------------------------------------------------------------------------------------------


def test_node_is_ready_with_a_real_runtime(real_node: Any) -> None:
    from kubernetes import client

    api = client.CoreV1Api(real_node.api_client())
    found = api.read_node(node_layout.NODE_NAME)
    conditions = {c.type: c.status for c in found.status.conditions}
    assert conditions["Ready"] == "True", conditions
    info = found.status.node_info
    assert info.kubelet_version == KUBERNETES_VERSION
    assert info.container_runtime_version.startswith("containerd://")
    assert found.spec.pod_cidr, "the controller manager allocated no pod CIDR"
    assert not found.spec.taints, found.spec.taints
    facts = real_node.ctx.facts()
    assert Path(facts["containerd_address"]).is_socket()
    assert facts["ingress_url"].startswith("http://127.0.0.1:")
    state = json.loads((real_node.paths.run_dir / "node.json").read_text())
    print(f"node join: {state['join_seconds']}s; pause image load: {state['pause_load_seconds']}s")


def test_image_loaded_into_the_node_containerd(real_node: Any, loaded_image: images.LoadResult) -> None:
    address = real_node.ctx.facts()["containerd_address"]
    assert loaded_image.reference in images.list_images(address)
    assert loaded_image.bytes > 1_000_000
    # The kubelet's runtime (CRI) sees it under the same name.
    crictl = subprocess.run([str(real_node.paths.binary("crictl")), "--image-endpoint", f"unix://{address}",
                             "images", "-o", "json"], capture_output=True, text=True, check=True)
    tags = {tag for image in json.loads(crictl.stdout)["images"] for tag in image.get("repoTags") or []}
    assert loaded_image.reference in tags


def test_loading_again_copies_only_a_changed_image(real_node: Any, loaded_image: images.LoadResult) -> None:
    """Same name and Docker image ID: nothing is copied. Same name, other content: it is imported again."""
    address = real_node.ctx.facts()["containerd_address"]
    again = images.load_image(loaded_image.image, address=address)
    assert again.reused and again.reference == loaded_image.reference

    name = f"todo-testbed/reuse-check:{uuid.uuid4().hex[:6]}"
    for source in (node_layout.PAUSE_IMAGE, loaded_image.image):  # two different images, one after the other
        subprocess.run(["docker", "tag", source, name], check=True, capture_output=True)
        result = images.load_image(name, address=address)
        docker_id = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", name], check=True,
                                   capture_output=True, text=True).stdout.strip()
        assert not result.reused, source
        assert images.docker_id_on_node(result.reference, address) == docker_id
    subprocess.run(["docker", "rmi", name], check=False, capture_output=True)


def test_pods_run_the_local_image_and_the_kubelet_executes_probes(real_node: Any, workload: dict[str, Any],
                                                                   namespace: str) -> None:
    from kubernetes import client

    api = client.CoreV1Api(real_node.api_client())
    flip = workload["probe-flip"]
    assert flip.spec.node_name == node_layout.NODE_NAME
    stats_url = f"http://{flip.status.pod_ip}:8080/stats"
    # Not ready yet: the readiness probe keeps failing, so the kubelet reports the pod not Ready.
    wait_for(lambda: requests.get(stats_url, timeout=2).json()["readiness_probes"] >= 3,
             "the kubelet to probe /ready", timeout=60)
    assert not pod_ready(api, namespace, "probe-flip")
    requests.get(f"http://{flip.status.pod_ip}:8080/ready/on", timeout=2)
    wait_for(lambda: pod_ready(api, namespace, "probe-flip"), "probe-flip to become Ready", timeout=30)
    requests.get(f"http://{flip.status.pod_ip}:8080/ready/off", timeout=2)
    wait_for(lambda: not pod_ready(api, namespace, "probe-flip"), "probe-flip to become NotReady", timeout=30)
    stats = requests.get(stats_url, timeout=2).json()
    assert stats["liveness_probes"] > 0
    for name in ("probe-frontend", "probe-backend"):
        wait_for(lambda name=name: pod_ready(api, namespace, name), f"{name} Ready", timeout=60)
        status = api.read_namespaced_pod(name, namespace).status.container_statuses[0]
        assert status.restart_count == 0
        assert status.image_id, "the runtime reported no image id"


def test_dns_resolves_service_names_from_a_pod(real_node: Any, workload: dict[str, Any], namespace: str) -> None:
    from kubernetes import client

    api = client.CoreV1Api(real_node.api_client())
    cluster_ip = api.read_namespaced_service("probe-backend", namespace).spec.cluster_ip
    pod_ip = workload["probe-frontend"].status.pod_ip
    for name in ("probe-backend", f"probe-backend.{namespace}.svc.cluster.local"):
        answer = wait_for(lambda name=name: requests.get(f"http://{pod_ip}:8080/resolve", params={"name": name},
                                                          timeout=10).json(), f"{name} to resolve", timeout=60)
        assert answer == [cluster_ip]
    kubernetes_ip = api.read_namespaced_service("kubernetes", "default").spec.cluster_ip
    answer = requests.get(f"http://{pod_ip}:8080/resolve", params={"name": "kubernetes.default"}, timeout=10).json()
    assert answer == [kubernetes_ip]
    missing = requests.get(f"http://{pod_ip}:8080/resolve", params={"name": "no-such-service"}, timeout=10)
    assert missing.status_code == 502


def test_service_ip_reachable_from_host_and_pods(real_node: Any, workload: dict[str, Any], namespace: str) -> None:
    from kubernetes import client

    api = client.CoreV1Api(real_node.api_client())
    cluster_ip = api.read_namespaced_service("probe-backend", namespace).spec.cluster_ip
    from_host = wait_for(lambda: requests.get(f"http://{cluster_ip}/whoami", timeout=3).json(),
                         "the Service IP from the host", timeout=60)
    assert from_host["name"] == "probe-backend"
    pod_ip = workload["probe-frontend"].status.pod_ip
    from_pod = requests.get(f"http://{pod_ip}:8080/fetch", params={"url": "http://probe-backend/via-pod"},
                            timeout=10).json()
    assert from_pod == {"name": "probe-backend", "hostname": "probe-backend", "path": "/via-pod",
                        "host": "probe-backend"}


def test_ingress_routes_by_host_and_path(real_node: Any, workload: dict[str, Any], namespace: str) -> None:
    from kubernetes import client

    net = client.NetworkingV1Api(real_node.api_client())
    host = f"{namespace}.todo.local"

    def path(prefix: str, backend: str) -> dict[str, Any]:
        return {"path": prefix, "pathType": "Prefix",
                "backend": {"service": {"name": backend, "port": {"name": "http"}}}}

    net.create_namespaced_ingress(namespace, {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "probe"},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": [
            path("/api", "probe-backend"), path("/", "probe-frontend")]}}]},
    })
    url = real_node.ctx.facts()["ingress_url"]
    api_answer = wait_for(lambda: requests.get(f"{url}/api/tasks?x=1", headers={"Host": host}, timeout=3).json(),
                          "the ingress to route /api", timeout=60)
    assert api_answer["name"] == "probe-backend"
    assert api_answer["path"] == "/api/tasks"  # unchanged: no rewrite
    assert api_answer["host"] == host
    page = requests.get(f"{url}/", headers={"Host": host}, timeout=3).json()
    assert page["name"] == "probe-frontend"
    other = requests.get(f"{url}/api/tasks", headers={"Host": "other.example"}, timeout=3)
    assert other.status_code == 404


def test_metrics_api_reports_pod_cpu_and_memory(real_node: Any, workload: dict[str, Any], namespace: str) -> None:
    from kubernetes import client

    custom = client.CustomObjectsApi(real_node.api_client())

    def usage() -> dict[str, Any] | None:
        items = custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", namespace, "pods")["items"]
        found = {i["metadata"]["name"]: i["containers"][0]["usage"] for i in items if i["containers"]}
        if "probe-backend" in found and parse_cpu(found["probe-backend"]["cpu"]) > 0:
            return found
        return None

    found = wait_for(usage, "metrics.k8s.io to report probe-backend", timeout=150, interval=3)
    cpu, memory = parse_cpu(found["probe-backend"]["cpu"]), parse_memory(found["probe-backend"]["memory"])
    print(f"metrics probe-backend: cpu {cpu:.4f} cores, memory {memory / 2**20:.1f} MiB")
    assert cpu > 0
    assert memory > 8 * 2**20  # the server touches an 8 MiB ballast
    nodes = custom.list_cluster_custom_object("metrics.k8s.io", "v1beta1", "nodes")["items"]
    assert node_layout.NODE_NAME in {n["metadata"]["name"] for n in nodes}


def parse_cpu(value: str) -> float:
    units = {"n": 1e-9, "u": 1e-6, "m": 1e-3}
    return float(value[:-1]) * units[value[-1]] if value[-1] in units else float(value)


def parse_memory(value: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in units.items():
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value)


def test_default_storage_class_binds_a_claim(real_node: Any, loaded_image: images.LoadResult,
                                             namespace: str) -> None:
    from kubernetes import client

    api = client.CoreV1Api(real_node.api_client())
    api.create_namespaced_persistent_volume_claim(namespace, {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    })
    pod = probe_pod("probe-volume", namespace, labels={"role": "volume"}, start_ready=True)
    pod["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    api.create_namespaced_pod(namespace, pod)
    wait_for(lambda: api.read_namespaced_pod("probe-volume", namespace).status.phase == "Running",
             "the pod with a claim to run", timeout=120)
    claim = api.read_namespaced_persistent_volume_claim("data", namespace)
    assert claim.status.phase == "Bound"
    assert claim.spec.storage_class_name == "standard"


def test_a_released_volume_is_wiped_and_available_when_the_runbook_next_resolves_the_test_bed(
        real_node: Any, namespace: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A claim bound to a test bed volume, data written, the claim deleted: the volume is Released with its data
    (reclaim policy Retain); the next run's cluster resolution wipes it and makes it Available again."""
    from kubernetes import client

    from todo_runbook import providers
    from todo_runbook.config import RunbookConfig

    api = client.CoreV1Api(real_node.api_client())
    volume = next(pv for pv in api.list_persistent_volume(label_selector="testbed.todo-runbook.io/volume=hostpath")
                  .items if pv.status.phase == "Available")
    api.create_namespaced_persistent_volume_claim(namespace, {
        "metadata": {"name": "released"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
                 "storageClassName": "standard", "volumeName": volume.metadata.name},
    })
    wait_for(lambda: api.read_namespaced_persistent_volume_claim("released", namespace).status.phase == "Bound",
             "the claim bound to its volume", timeout=60)
    left = Path(volume.spec.host_path.path) / "left-behind"
    left.parent.mkdir(parents=True, exist_ok=True)
    left.write_text("data of a deleted release")
    api.delete_namespaced_persistent_volume_claim("released", namespace)
    wait_for(lambda: api.read_persistent_volume(volume.metadata.name).status.phase == "Released",
             "the volume Released", timeout=60)
    assert left.exists()
    monkeypatch.setenv("PATH", real_node.env()["PATH"])
    said: list[str] = []
    providers.resolve(RunbookConfig(provider="testbed"), say=said.append)
    assert not left.exists()
    assert any("wiped and available again" in line for line in said), said
    wait_for(lambda: api.read_persistent_volume(volume.metadata.name).status.phase == "Available",
             "the volume Available again", timeout=60)


@pytest.mark.slow
def test_down_leaves_nothing_behind(real_node: Any, workload: dict[str, Any]) -> None:
    """Runs last in this module: down, check by pid/mounts/interfaces/iptables/cgroups, then up again."""
    paths, ctx = real_node.paths, real_node.ctx
    pids = dict(ctx.facts()["pids"])
    before = node_cleanup.leftovers(paths)
    assert before.processes and before.interfaces and before.iptables and before.mounts, before
    controlplane.down(paths=paths)
    left = node_cleanup.leftovers(paths, pids=pids)
    assert left.clean, left.describe()
    for pid in pids.values():
        assert not os.path.exists(f"/proc/{pid}") or _is_zombie(pid), f"pid {pid} still runs"
    # Docker's own rules are untouched.
    nat = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True, check=True).stdout
    if subprocess.run(["ip", "link", "show", "docker0"], capture_output=True).returncode == 0:
        assert "DOCKER" in nat
    # Bring the test bed back for the rest of the session (the fixture stops it at the end).
    info = controlplane.up(paths=paths, ports=ctx.ports, simulated_nodes=ctx.simulated_nodes, node=True,
                           node_errors="raise")
    assert node_layout.NODE_NAME in info.nodes


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True

"""The test bed's control plane against the real API: objects, kwok scheduling, the chart with helm, down.

Everything runs against the processes `python -m testcluster up` starts (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok), through the `kubernetes` client, kubectl and helm
built from source.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from testcluster import controlplane, procs
from testcluster.components import KUBERNETES_VERSION
from testcluster.paths import Paths

pytestmark = pytest.mark.cluster

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "helm" / "todo-app"
SIMULATED_TOLERATION = {"key": controlplane.SIMULATED_LABEL, "operator": "Exists", "effect": "NoSchedule"}
SIMULATED_SELECTOR = {controlplane.SIMULATED_LABEL: "true"}


def wait_for(check: Callable[[], bool], what: str, timeout: float = 180) -> None:
    procs.wait_until(check, what=what, timeout=timeout, interval=0.5)


@pytest.fixture
def namespace(testbed) -> Iterator[str]:
    from kubernetes import client

    core = client.CoreV1Api(testbed.api_client())
    name = f"tb-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    delete_namespace_and_wait(core, name)


def delete_namespace_and_wait(core, name: str, timeout: float = 180) -> None:
    from kubernetes.client.rest import ApiException

    try:
        core.delete_namespace(name)
    except ApiException as error:
        if error.status != 404:
            raise

    def gone() -> bool:
        try:
            core.read_namespace(name)
        except ApiException as error:
            return error.status == 404
        return False

    wait_for(gone, f"namespace {name} to be deleted", timeout)


def test_readyz_and_version(testbed) -> None:
    from kubernetes import client

    status, body = testbed.ctx.get("/readyz?verbose")
    assert status == 200, body
    assert "readyz check passed" in body
    assert "[+]etcd ok" in body
    version = client.VersionApi(testbed.api_client()).get_code()
    assert version.git_version == KUBERNETES_VERSION
    kubectl = json.loads(testbed.run("kubectl", ["version", "--output=json"]).stdout)
    assert kubectl["clientVersion"]["gitVersion"] == KUBERNETES_VERSION
    assert kubectl["serverVersion"]["gitVersion"] == KUBERNETES_VERSION


def test_kubeconfig_and_cluster_json_describe_the_running_cluster(testbed) -> None:
    kubeconfig = yaml.safe_load(Path(testbed.kubeconfig).read_text())
    assert kubeconfig["current-context"] == "todo-testbed"
    assert [c["name"] for c in kubeconfig["contexts"]] == ["todo-testbed"]
    facts = json.loads(testbed.paths.cluster_json.read_text())
    assert facts["context"] == "todo-testbed"
    assert facts["kubeconfig"] == testbed.kubeconfig
    assert facts["server"] == testbed.server
    for name in controlplane.CONTROL_PLANE_ORDER:
        pid = facts["pids"][name]
        assert procs.is_alive(pid), f"{name} (pid {pid}) recorded in cluster.json is not running"
    from kubernetes import client

    live_nodes = {n.metadata.name for n in client.CoreV1Api(testbed.api_client()).list_node().items}
    assert set(facts["nodes"]) <= live_nodes
    assert {"kwok-node-0", "kwok-node-1"} <= live_nodes


def test_core_objects_round_trip(testbed, namespace: str) -> None:
    from kubernetes import client

    api = testbed.api_client()
    core, apps, networking = client.CoreV1Api(api), client.AppsV1Api(api), client.NetworkingV1Api(api)
    labels = {"app.kubernetes.io/name": "roundtrip"}
    token = secrets.token_urlsafe(16)

    core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="settings", labels=labels), data={"LOG_LEVEL": "debug"}))
    core.create_namespaced_secret(namespace, client.V1Secret(
        metadata=client.V1ObjectMeta(name="credentials", labels=labels), string_data={"JWT_SECRET": token}))
    apps.create_namespaced_deployment(namespace, client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web", labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="todo-frontend:roundtrip")]),
            ),
        ),
    ))
    core.create_namespaced_service(namespace, client.V1Service(
        metadata=client.V1ObjectMeta(name="web", labels=labels),
        spec=client.V1ServiceSpec(selector=labels, ports=[client.V1ServicePort(port=80, target_port=3000)]),
    ))
    networking.create_namespaced_ingress(namespace, client.V1Ingress(
        metadata=client.V1ObjectMeta(name="web", labels=labels),
        spec=client.V1IngressSpec(
            ingress_class_name="nginx",
            rules=[client.V1IngressRule(host="todo.local", http=client.V1HTTPIngressRuleValue(paths=[
                client.V1HTTPIngressPath(path="/", path_type="Prefix", backend=client.V1IngressBackend(
                    service=client.V1IngressServiceBackend(name="web", port=client.V1ServiceBackendPort(number=80))))
            ]))],
        ),
    ))

    assert core.read_namespaced_config_map("settings", namespace).data == {"LOG_LEVEL": "debug"}
    stored = core.read_namespaced_secret("credentials", namespace)
    assert base64.b64decode(stored.data["JWT_SECRET"]).decode() == token
    deployment = apps.read_namespaced_deployment("web", namespace)
    assert deployment.spec.template.spec.containers[0].image == "todo-frontend:roundtrip"
    service = core.read_namespaced_service("web", namespace)
    # The API server allocated a cluster IP from the test bed's service range.
    import ipaddress

    assert ipaddress.ip_address(service.spec.cluster_ip) in ipaddress.ip_network(testbed.ctx.network.service_cidr)
    ingress = networking.read_namespaced_ingress("web", namespace)
    assert ingress.spec.rules[0].host == "todo.local"
    assert ingress.spec.ingress_class_name == "nginx"
    listed = {cm.metadata.name for cm in core.list_namespaced_config_map(namespace,
                                                                         label_selector="app.kubernetes.io/name=roundtrip").items}
    assert listed == {"settings"}


def test_deployment_becomes_available_on_simulated_nodes(testbed, namespace: str) -> None:
    from kubernetes import client

    api = testbed.api_client()
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    labels = {"app.kubernetes.io/name": "on-kwok"}
    apps.create_namespaced_deployment(namespace, client.V1Deployment(
        metadata=client.V1ObjectMeta(name="on-kwok"),
        spec=client.V1DeploymentSpec(
            replicas=3,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    containers=[client.V1Container(name="app", image="todo-backend:kwok")],
                    node_selector=SIMULATED_SELECTOR,
                    tolerations=[client.V1Toleration(**SIMULATED_TOLERATION)],
                ),
            ),
        ),
    ))

    def available() -> bool:
        status = apps.read_namespaced_deployment_status("on-kwok", namespace).status
        conditions = {c.type: c.status for c in status.conditions or []}
        return conditions.get("Available") == "True" and (status.available_replicas or 0) == 3

    wait_for(available, "Deployment on-kwok to become Available")
    pods = core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/name=on-kwok").items
    assert len(pods) == 3
    for pod in pods:
        assert pod.spec.node_name.startswith("kwok-node-"), pod.spec.node_name
        assert pod.status.phase == "Running"
        assert pod.status.pod_ip, f"{pod.metadata.name} has no pod IP"


# ----------------------------------------------------------------------------------------------
# The chart, with the helm built from source


def chart_or_skip() -> Path:
    if not (CHART / "Chart.yaml").exists():
        pytest.skip(f"the chart is not there yet ({CHART / 'Chart.yaml'} is missing)")
    return CHART


def simulated_values(tmp_path: Path) -> Path:
    """Values that place the app on simulated nodes (kwok runs nothing, so no image needs to exist)."""
    placement = {"nodeSelector": SIMULATED_SELECTOR, "tolerations": [SIMULATED_TOLERATION]}
    values = {
        "backend": {**placement, "image": {"tag": "kwok"}},
        "frontend": {**placement, "image": {"tag": "kwok"}},
        # A syntactically valid URL to a host that does not exist: nothing connects on simulated nodes.
        "secrets": {"databaseUrl": f"postgresql://todo:{secrets.token_urlsafe(12)}@db.invalid:5432/todo"},
    }
    path = tmp_path / "simulated-values.yaml"
    path.write_text(yaml.safe_dump(values))
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("values_file", ["values.yaml", "values-dev.yaml"])
def test_rendered_chart_passes_server_side_dry_run(testbed, namespace: str, tmp_path: Path, values_file: str) -> None:
    chart = chart_or_skip()
    extra = ["-f", str(simulated_values(tmp_path))] if values_file == "values.yaml" else []
    # --skip-tests: the chart's `helm test` Pod is not part of an install (and a dry run cannot see
    # the ServiceAccount it would use, because nothing is persisted).
    rendered = testbed.run("helm", ["template", "dryrun", str(chart), "--namespace", namespace, "--skip-tests",
                                    "-f", str(chart / values_file), *extra]).stdout
    kinds = {doc["kind"] for doc in yaml.safe_load_all(rendered) if doc}
    assert {"Deployment", "Service"} <= kinds
    result = testbed.run("kubectl", ["apply", "--dry-run=server", "--namespace", namespace, "-f", "-",
                                     "-o", "name"], input=rendered)
    applied = result.stdout.split()
    assert any(name.startswith("deployment.apps/") for name in applied), result.stdout
    # A dry run persists nothing.
    from kubernetes import client

    assert client.AppsV1Api(testbed.api_client()).list_namespaced_deployment(namespace).items == []


def test_helm_install_on_simulated_nodes_then_uninstall_leaves_nothing(testbed, tmp_path: Path) -> None:
    from kubernetes import client

    chart = chart_or_skip()
    api = testbed.api_client()
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    release, namespace = "todo", f"tb-helm-{uuid.uuid4().hex[:6]}"
    values = simulated_values(tmp_path)
    try:
        testbed.run("helm", ["upgrade", "--install", release, str(chart), "--namespace", namespace,
                             "--create-namespace", "-f", str(values), "--wait", "--timeout", "5m"], timeout=420)
        deployments = apps.list_namespaced_deployment(namespace, label_selector=f"app.kubernetes.io/instance={release}")
        assert len(deployments.items) >= 2, [d.metadata.name for d in deployments.items]
        for deployment in deployments.items:
            conditions = {c.type: c.status for c in deployment.status.conditions or []}
            assert conditions.get("Available") == "True", (deployment.metadata.name, conditions)
            assert deployment.status.ready_replicas == deployment.spec.replicas
        for pod in core.list_namespaced_pod(namespace).items:
            assert pod.spec.node_name.startswith("kwok-node-")
        listed = json.loads(testbed.run("helm", ["list", "--namespace", namespace, "-o", "json"]).stdout)
        assert [(r["name"], r["status"]) for r in listed] == [(release, "deployed")]

        testbed.run("helm", ["uninstall", release, "--namespace", namespace, "--wait", "--timeout", "3m"],
                    timeout=240)
        assert json.loads(testbed.run("helm", ["list", "--all", "--namespace", namespace, "-o", "json"]).stdout) == []
    finally:
        delete_namespace_and_wait(core, namespace)
    # Nothing of the release is left anywhere: namespaced objects went with the namespace; check
    # cluster-wide for anything labelled with the release, and for Helm's release Secrets.
    leftovers = testbed.run("kubectl", ["get", "all,configmap,secret,ingress,pvc,serviceaccount,networkpolicy,pdb",
                                        "--all-namespaces", "-l", f"app.kubernetes.io/instance={release}",
                                        "-o", "name"]).stdout.split()
    assert leftovers == []
    release_secrets = core.list_secret_for_all_namespaces(label_selector=f"owner=helm,name={release}").items
    assert [s.metadata.namespace for s in release_secrets if s.metadata.namespace == namespace] == []


# ----------------------------------------------------------------------------------------------
# up/down on a private second test bed (own state folder and ports), so the session's stays up


def test_up_is_idempotent_and_down_stops_every_process(testbed, tmp_path: Path) -> None:
    paths = Paths(testbed.paths.cache, state=tmp_path / "private-testbed")
    ports = controlplane.Ports.first_free()  # other test beds (e.g. a colleague's) may hold some offsets
    first = controlplane.up(paths=paths, node=False, simulated_nodes=1, ports=ports)
    try:
        assert not first.reused
        assert set(controlplane.CONTROL_PLANE_ORDER) <= set(first.pids)
        assert first.nodes == ["kwok-node-0"]
        second = controlplane.up(paths=paths, node=False, simulated_nodes=1, ports=ports)
        assert second.reused
        assert second.pids == first.pids  # nothing was started twice
        recorded = {name: procs.read_pidfile(paths.pidfile(name)) for name in first.pids}
        assert all(r is not None and r.alive() for r in recorded.values())
    finally:
        stopped = controlplane.down(paths=paths)
    assert set(stopped) == set(first.pids)
    deadline = time.monotonic() + 10
    still = [n for n, r in recorded.items() if r is not None and procs.is_alive(r.pid, r.start_time)]
    while still and time.monotonic() < deadline:
        time.sleep(0.2)
        still = [n for n, r in recorded.items() if r is not None and procs.is_alive(r.pid, r.start_time)]
    assert still == [], f"still running after down: {still}"
    assert not paths.run_dir.exists()
    assert not paths.data_dir.exists()
    assert not paths.kubeconfig.exists()
    # down when nothing runs is fine and stops nothing.
    assert controlplane.down(paths=paths) == []
    # The session's test bed was not touched.
    assert testbed.ctx.ready()


def test_without_simulated_nodes_kwok_is_not_started_until_they_are_asked_for(testbed, tmp_path: Path) -> None:
    """The runbook starts the test bed with `--simulated-nodes 0` (so a cold run need not build kwok); a later `up`
    that asks for simulated nodes starts kwok on the running control plane."""
    paths = Paths(testbed.paths.cache, state=tmp_path / "private-testbed")
    ports = controlplane.Ports.first_free()
    first = controlplane.up(paths=paths, node=False, simulated_nodes=0, ports=ports)
    try:
        assert "kwok" not in first.pids and "kube-scheduler" in first.pids
        assert first.nodes == []
        second = controlplane.up(paths=paths, node=False, simulated_nodes=1, ports=ports)
        assert second.reused
        assert "kwok" in second.pids and second.pids["kube-apiserver"] == first.pids["kube-apiserver"]
        assert second.nodes == ["kwok-node-0"]
    finally:
        stopped = controlplane.down(paths=paths)
    assert "kwok" in stopped

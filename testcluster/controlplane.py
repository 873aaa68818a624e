"""The test bed's control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.

``up()`` starts them on loopback (idempotent), writes the admin kubeconfig (context ``todo-testbed``)
and ``run/cluster.json``, waits until ``/readyz`` answers, creates simulated (kwok) nodes, then hands
a :class:`~testcluster.context.ClusterContext` to ``testcluster.node.up(ctx)`` when that module exists
and the node is enabled. ``down()`` calls ``testcluster.node.down(ctx)`` first, then stops every
recorded process by pid and removes the run state. ``status()`` reports what runs.
Certificates are in :mod:`testcluster.pki`; ports, network and the context in :mod:`testcluster.context`.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import json
import os
import shutil
import socket
import ssl
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

import yaml

from testcluster import procs
from testcluster.components import kwok_stage_files
from testcluster.context import (
    DEFAULT_SIMULATED_NODES,
    ClusterContext,
    ClusterInfo,
    Network,
    Ports,
    host_address,
    port_in_use,
)
from testcluster.errors import TestbedError
from testcluster.paths import CONTEXT_NAME, Paths
from testcluster.pki import kubeconfig_document, write_private_file

SIMULATED_LABEL = "testbed.todo-runbook.io/simulated"
CONTROL_PLANE_ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def node_module_available() -> bool:
    return importlib.util.find_spec("testcluster.node") is not None


# ----------------------------------------------------------------------------------------------
# Bringing it up


def _write_pki(ctx: ClusterContext) -> None:
    pki, net = ctx.pki, ctx.network
    ca = pki.ensure_ca("ca", "todo-testbed-ca")
    pki.ensure_ca("front-proxy-ca", "todo-testbed-front-proxy-ca")
    pki.ensure_ca("etcd-ca", "todo-testbed-etcd-ca")
    pki.ensure_service_account_key()
    domain = net.cluster_domain
    hosts = ["127.0.0.1", "localhost", net.advertise_address, net.kubernetes_service_ip, socket.gethostname(),
             "kubernetes", "kubernetes.default", "kubernetes.default.svc", f"kubernetes.default.svc.{domain}"]
    pki.issue("apiserver", ca=ca, common_name="kube-apiserver", hosts=hosts, server=True, client=False)
    pki.issue("apiserver-kubelet-client", ca=ca, common_name="kube-apiserver-kubelet-client",
              organizations=["system:masters"])
    pki.issue("admin", ca=ca, common_name="todo-testbed-admin", organizations=["system:masters"])
    pki.issue("front-proxy-client", ca=ctx.front_proxy_ca, common_name="front-proxy-client")
    etcd_ca = pki.pair("etcd-ca")
    pki.issue("etcd-server", ca=etcd_ca, common_name="etcd", hosts=["127.0.0.1", "localhost"], server=True)
    pki.issue("apiserver-etcd-client", ca=etcd_ca, common_name="kube-apiserver-etcd-client")


def _write_kubeconfigs(ctx: ClusterContext) -> dict[str, Path]:
    admin = kubeconfig_document(ctx.server, ctx.ca.cert, ctx.pki.pair("admin"), "todo-testbed-admin", CONTEXT_NAME)
    write_private_file(ctx.kubeconfig, yaml.safe_dump(admin, sort_keys=False))
    return {
        "kube-controller-manager": ctx.write_kubeconfig("kube-controller-manager", "system:kube-controller-manager"),
        "kube-scheduler": ctx.write_kubeconfig("kube-scheduler", "system:kube-scheduler"),
        "kwok": _kwok_kubeconfig(ctx),
    }


def _kwok_kubeconfig(ctx: ClusterContext) -> Path:
    # kwok updates node and pod status for simulated nodes: the simplest honest grant is admin.
    return ctx.write_kubeconfig("kwok", "todo-testbed-kwok", ["system:masters"])


def _etcd_argv(ctx: ClusterContext) -> list[str]:
    pki, p = ctx.pki, ctx.ports
    server, ca = pki.pair("etcd-server"), pki.pair("etcd-ca")
    client_url, peer_url = f"https://127.0.0.1:{p.etcd_client}", f"http://127.0.0.1:{p.etcd_peer}"
    return [
        str(ctx.binary("etcd")), "--name=testbed", f"--data-dir={ctx.paths.data_dir / 'etcd'}",
        f"--listen-client-urls={client_url}", f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=testbed={peer_url}", "--initial-cluster-state=new",
        f"--cert-file={server.cert}", f"--key-file={server.key}", f"--trusted-ca-file={ca.cert}",
        "--client-cert-auth=true",
        # The data is thrown away by `down`; skipping fsync keeps a shared CI disk from stalling the API.
        "--unsafe-no-fsync=true", "--quota-backend-bytes=2147483648", "--log-level=warn",
    ]


def _apiserver_argv(ctx: ClusterContext) -> list[str]:
    pki, p, net = ctx.pki, ctx.ports, ctx.network
    etcd_client, etcd_ca = pki.pair("apiserver-etcd-client"), pki.pair("etcd-ca")
    serving, kubelet_client, proxy = pki.pair("apiserver"), pki.pair("apiserver-kubelet-client"), \
        pki.pair("front-proxy-client")
    sa = ctx.service_account_key
    return [
        str(ctx.binary("kube-apiserver")),
        f"--bind-address={net.bind_address}", f"--advertise-address={net.advertise_address}",
        f"--secure-port={p.apiserver}",
        f"--etcd-servers=https://127.0.0.1:{p.etcd_client}", f"--etcd-cafile={etcd_ca.cert}",
        f"--etcd-certfile={etcd_client.cert}", f"--etcd-keyfile={etcd_client.key}",
        f"--tls-cert-file={serving.cert}", f"--tls-private-key-file={serving.key}",
        f"--client-ca-file={ctx.ca.cert}",
        "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true",
        f"--service-cluster-ip-range={net.service_cidr}",
        f"--service-account-issuer=https://kubernetes.default.svc.{net.cluster_domain}",
        f"--service-account-key-file={sa.cert}", f"--service-account-signing-key-file={sa.key}",
        # For kubectl logs/exec and metrics-server's scrapes through the API server.
        f"--kubelet-client-certificate={kubelet_client.cert}", f"--kubelet-client-key={kubelet_client.key}",
        "--kubelet-preferred-address-types=InternalIP,Hostname,ExternalIP",
        # Aggregation layer (metrics.k8s.io): request-header authentication and the proxy client cert.
        f"--requestheader-client-ca-file={ctx.front_proxy_ca.cert}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={proxy.cert}", f"--proxy-client-key-file={proxy.key}",
        "--enable-aggregator-routing=true",
        f"--cert-dir={ctx.paths.data_dir / 'kube-apiserver'}",
        "--event-ttl=1h", "--profiling=false", "--v=1",
    ]


def _controller_manager_argv(ctx: ClusterContext, kubeconfig: Path) -> list[str]:
    net = ctx.network
    return [
        str(ctx.binary("kube-controller-manager")),
        f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1", f"--secure-port={ctx.ports.controller_manager}",
        f"--cert-dir={ctx.paths.data_dir / 'kube-controller-manager'}",
        "--leader-elect=false", "--use-service-account-credentials=true",
        f"--service-account-private-key-file={ctx.service_account_key.key}", f"--root-ca-file={ctx.ca.cert}",
        f"--cluster-signing-cert-file={ctx.ca.cert}", f"--cluster-signing-key-file={ctx.ca.key}",
        "--allocate-node-cidrs=true", f"--cluster-cidr={net.pod_cidr}", f"--node-cidr-mask-size={net.node_cidr_mask}",
        f"--service-cluster-ip-range={net.service_cidr}",
        "--profiling=false", "--v=1",
    ]


def _scheduler_argv(ctx: ClusterContext, kubeconfig: Path) -> list[str]:
    return [
        str(ctx.binary("kube-scheduler")),
        f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1", f"--secure-port={ctx.ports.scheduler}",
        f"--cert-dir={ctx.paths.data_dir / 'kube-scheduler'}",
        "--leader-elect=false", "--profiling=false", "--v=1",
    ]


def _kwok_argv(ctx: ClusterContext, kubeconfig: Path) -> list[str]:
    return [
        str(ctx.binary("kwok")),
        f"--kubeconfig={kubeconfig}",
        "--manage-all-nodes=false", f"--manage-nodes-with-label-selector={SIMULATED_LABEL}=true",
        f"--server-address=127.0.0.1:{ctx.ports.kwok}",
        f"--node-ip={ctx.network.advertise_address}",
        # Pod IPs of simulated pods: outside the real pod and service ranges, so nothing routes to them.
        f"--cidr={ctx.network.simulated_pod_cidr}",
        "--node-lease-duration-seconds=40",
        *(f"--config={stage}" for stage in kwok_stage_files(ctx.paths)),
    ]


def _https_healthz(port: int) -> bool:
    # Controller manager and scheduler serve /healthz with a self-signed cert; anonymous access is allowed.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", timeout=3, context=context) as response:
        return response.status == 200


def _etcd_healthy(ctx: ClusterContext) -> bool:
    pki = ctx.pki
    context = ssl.create_default_context(cafile=str(pki.pair("etcd-ca").cert))
    client = pki.pair("apiserver-etcd-client")
    context.load_cert_chain(str(client.cert), str(client.key))
    url = f"https://127.0.0.1:{ctx.ports.etcd_client}/health"
    with urllib.request.urlopen(url, timeout=3, context=context) as response:
        return json.loads(response.read()).get("health") == "true"


def simulated_node_manifest(name: str, tainted: bool) -> dict[str, Any]:
    """A Node that kwok manages (label ``testbed.todo-runbook.io/simulated=true``)."""
    capacity = {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"}
    spec: dict[str, Any] = {}
    if tainted:
        # With a real node present, real workloads must not land on a node that runs nothing.
        spec["taints"] = [{"key": SIMULATED_LABEL, "value": "true", "effect": "NoSchedule"}]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
            "labels": {
                SIMULATED_LABEL: "true", "type": "kwok",
                "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux", "kubernetes.io/hostname": name,
                "node-role.kubernetes.io/agent": "",
            },
        },
        "spec": spec,
        "status": {"allocatable": capacity, "capacity": capacity,
                   "nodeInfo": {"kubeletVersion": "kwok", "kubeProxyVersion": "kwok", "architecture": "amd64",
                                "operatingSystem": "linux", "osImage": "simulated", "kernelVersion": "simulated",
                                "containerRuntimeVersion": "kwok", "machineID": name, "systemUUID": name,
                                "bootID": name}},
    }


def _ensure_simulated_nodes(ctx: ClusterContext, count: int) -> list[str]:
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    api = client.CoreV1Api(ctx.api_client())
    names = [f"kwok-node-{i}" for i in range(count)]
    tainted = ctx.node_enabled and node_module_available()
    for name in names:
        try:
            api.create_node(simulated_node_manifest(name, tainted))
        except ApiException as error:
            if error.status != 409:
                raise
    # Remove simulated nodes beyond the requested count (a previous `up` asked for more).
    for node in api.list_node(label_selector=f"{SIMULATED_LABEL}=true").items:
        if node.metadata.name not in names:
            api.delete_node(node.metadata.name)

    def all_ready() -> bool:
        nodes = {n.metadata.name: n for n in api.list_node(label_selector=f"{SIMULATED_LABEL}=true").items}
        for name in names:
            conditions = (nodes[name].status.conditions or []) if name in nodes else []
            if not any(c.type == "Ready" and c.status == "True" for c in conditions):
                return False
        return True

    procs.wait_until(all_ready, what="simulated nodes Ready", timeout=120, interval=0.5,
                     watch=ctx.process("kwok"))
    return names


def _node_names(ctx: ClusterContext) -> list[str]:
    from kubernetes import client

    return sorted(n.metadata.name for n in client.CoreV1Api(ctx.api_client()).list_node().items)


def control_plane_running(ctx: ClusterContext) -> bool:
    """Every control-plane process recorded and alive (kwok only with simulated nodes), and /readyz answering."""
    for name in CONTROL_PLANE_ORDER:
        if name == "kwok" and not ctx.simulated_nodes:
            continue
        recorded = ctx.process(name)
        if recorded is None or not recorded.alive():
            return False
    return ctx.ready()


def _default_network(node_enabled: bool) -> Network:
    if not node_enabled:
        return Network()
    # Pods reach the API server through the `kubernetes` Service (DNAT to advertise_address),
    # so with a real node the API server also listens on the host address.
    return Network(bind_address=os.environ.get("TODO_TESTBED_APISERVER_BIND", "0.0.0.0"),
                   advertise_address=host_address())


def up(
    *,
    paths: Paths | None = None,
    simulated_nodes: int | None = None,
    node: bool = True,
    real_nodes: int | None = None,
    ports: Ports | None = None,
    node_errors: str = "raise",
    out: TextIO = sys.stdout,
) -> ClusterInfo:
    """Start the test bed (or confirm it runs) and return its facts. Idempotent.

    ``real_nodes`` (1 or 2) converges the real nodes to that count; None keeps what runs (1 for a new test bed).
    ``node_errors="record"`` keeps a running control plane when the node part fails and returns the
    error in ``ClusterInfo.node_error`` (the pytest fixture uses this); ``"raise"`` re-raises it.
    """
    paths = paths or Paths.default()
    start = time.monotonic()
    count = DEFAULT_SIMULATED_NODES if simulated_nodes is None else simulated_nodes
    if count < 0:
        raise TestbedError(f"--simulated-nodes must be 0 or more, got {count}")
    if real_nodes is not None and not 1 <= real_nodes <= 2:
        raise TestbedError(f"--real-nodes must be 1 or 2, got {real_nodes}")
    node_enabled = node and node_module_available()

    existing = ClusterContext.load(paths, out=out)
    reused = bool(existing.facts()) and control_plane_running(existing)
    if reused:
        ctx = existing
        if ctx.node_enabled != node_enabled or (ports is not None and ports != ctx.ports):
            ctx.log("up: the running test bed has other settings; restarting it")
            down(paths=paths, out=out)
            reused = False
    if not reused:
        if existing.facts() or any(paths.run_dir.glob("*.pid")):
            existing.log("up: removing the state of a test bed that is no longer running")
            down(paths=paths, out=out, quiet=True)
        ctx = ClusterContext(paths=paths, ports=ports or Ports(), network=_default_network(node_enabled),
                             node_enabled=node_enabled, simulated_nodes=count, real_nodes=real_nodes or 1, out=out)
        try:
            _start_control_plane(ctx)
        except BaseException:
            # Leave nothing half-started behind; the logs in logs/ stay for the post-mortem.
            down(paths=paths, out=out, quiet=True)
            raise
    else:
        ctx.log(f"up: control plane already running ({ctx.server})")
        ctx.simulated_nodes = count
        ctx.real_nodes = real_nodes or ctx.real_nodes
        if count and ctx.process("kwok") is None:
            _start_kwok_later(ctx)
    ctx.record(settings=ctx.to_json())
    _ensure_simulated_nodes(ctx, count)

    node_error: str | None = None
    if ctx.node_enabled:
        node_module = importlib.import_module("testcluster.node")
        ctx.log("up: starting the node part (testcluster.node.up)")
        try:
            node_module.up(ctx)
        except Exception as error:
            if node_errors == "raise":
                raise TestbedError(
                    f"the node part failed: {error}. The control plane is running; `python -m testcluster up "
                    f"--no-node` gives a test bed with simulated nodes only."
                ) from error
            node_error = f"{type(error).__name__}: {error}"
            ctx.log(f"up: node part failed ({node_error}); continuing with the control plane only")
    seconds = time.monotonic() - start
    facts = ctx.record(nodes=_node_names(ctx), node_error=node_error, up_seconds=round(seconds, 2))
    ctx.log(f"up: ready in {seconds:.1f}s ({len(facts['nodes'])} nodes)")
    return ClusterInfo(
        context=CONTEXT_NAME, kubeconfig=str(ctx.kubeconfig), server=ctx.server, nodes=facts["nodes"],
        pids=dict(facts.get("pids") or {}), seconds=seconds, reused=reused,
        ingress_url=facts.get("ingress_url"), containerd_address=facts.get("containerd_address"),
        node_error=node_error, facts=facts,
    )


def _check_ports_free(ctx: ClusterContext) -> None:
    busy = [f"{name} {port}" for name, port in asdict(ctx.ports).items() if port_in_use(port)]
    if busy:
        raise TestbedError(
            f"ports needed by the test bed are in use ({', '.join(busy)}): another test bed or Kubernetes runs "
            f"here. `python -m testcluster down` stops ours; `ss -ltnp` shows who holds the ports."
        )


def _start_control_plane(ctx: ClusterContext) -> None:
    paths = ctx.paths
    # kwok only serves simulated nodes: a test bed without them (the runbook's) neither needs nor builds it.
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
                 *(("kwok",) if ctx.simulated_nodes else ())):
        ctx.binary(name)  # fail before starting anything when a tool is missing
    _check_ports_free(ctx)
    for directory in (paths.run_dir, paths.data_dir, paths.log_dir, paths.pki_dir):
        directory.mkdir(parents=True, exist_ok=True)
    for old_log in paths.log_dir.glob("*.log"):
        old_log.unlink()
    ctx.record(context=CONTEXT_NAME, kubeconfig=str(ctx.kubeconfig), server=ctx.server, nodes=[],
               ingress_url=None, containerd_address=None, pids={}, kubernetes_version=ctx.kubernetes_version,
               started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), settings=ctx.to_json())
    t0 = time.monotonic()
    _write_pki(ctx)
    kubeconfigs = _write_kubeconfigs(ctx)
    ctx.log(f"up: certificates and kubeconfigs ready ({time.monotonic() - t0:.1f}s)")

    def start_and_wait(name: str, argv: list[str], check: Callable[[], bool], timeout: float) -> None:
        t = time.monotonic()
        recorded = ctx.start_process(name, argv)
        procs.wait_until(check, what=f"{name} to become healthy", timeout=timeout, watch=recorded)
        ctx.log(f"up: {name} healthy (pid {recorded.pid}, {time.monotonic() - t:.1f}s)")

    start_and_wait("etcd", _etcd_argv(ctx), lambda: _etcd_healthy(ctx), 60)
    start_and_wait("kube-apiserver", _apiserver_argv(ctx), ctx.ready, 180)
    start_and_wait("kube-controller-manager", _controller_manager_argv(ctx, kubeconfigs["kube-controller-manager"]),
                   lambda: _https_healthz(ctx.ports.controller_manager), 120)
    start_and_wait("kube-scheduler", _scheduler_argv(ctx, kubeconfigs["kube-scheduler"]),
                   lambda: _https_healthz(ctx.ports.scheduler), 120)
    if ctx.simulated_nodes:
        start_and_wait("kwok", _kwok_argv(ctx, kubeconfigs["kwok"]), lambda: ctx.process("kwok") is not None, 10)


def _start_kwok_later(ctx: ClusterContext) -> None:
    """kwok for a running test bed started without simulated nodes, now asked for some."""
    recorded = ctx.start_process("kwok", _kwok_argv(ctx, _kwok_kubeconfig(ctx)))
    procs.wait_until(lambda: ctx.process("kwok") is not None, what="kwok to start", timeout=10, watch=recorded)
    ctx.log(f"up: kwok started for {ctx.simulated_nodes} simulated node(s) (pid {recorded.pid})")


# ----------------------------------------------------------------------------------------------
# Taking it down, status


def down(*, paths: Paths | None = None, out: TextIO = sys.stdout, quiet: bool = False) -> list[str]:
    """Stop the node part, then every recorded process (by pid); remove run state, data and kubeconfig.

    Safe to call when nothing runs. Returns the names of the processes that were stopped.
    """
    paths = paths or Paths.default()
    ctx = ClusterContext.load(paths, out=out)
    errors: list[str] = []
    settings = ctx.facts().get("settings")
    # The node part is host-wide (mounts, interfaces, iptables): only the default test bed, or one that
    # recorded a node, may tear it down; a private test bed without a node never does.
    node_owner = settings["node_enabled"] if settings else paths.state is None
    if node_module_available() and node_owner:
        try:
            importlib.import_module("testcluster.node").down(ctx)
        except Exception as error:  # keep going: the control plane must still be stopped
            errors.append(f"testcluster.node.down failed: {type(error).__name__}: {error}")
    recorded_order = list((ctx.facts().get("pids") or {}).keys())
    pidfiles = {p.stem for p in paths.run_dir.glob("*.pid")} if paths.run_dir.exists() else set()
    names = [n for n in recorded_order if n in pidfiles] + sorted(pidfiles - set(recorded_order))
    stopped: list[str] = []
    for name in reversed(names):  # the last started goes first; etcd last
        try:
            if procs.stop_pidfile(paths.pidfile(name)):
                stopped.append(name)
        except procs.ProcessError as error:
            errors.append(str(error))
    shutil.rmtree(paths.run_dir, ignore_errors=True)
    shutil.rmtree(paths.data_dir, ignore_errors=True)
    shutil.rmtree(paths.cluster_dir / "kubeconfigs", ignore_errors=True)
    paths.kubeconfig.unlink(missing_ok=True)
    if not quiet:
        print(f"down: stopped {', '.join(stopped) if stopped else 'nothing (no process was running)'}",
              file=out, flush=True)
    if errors:
        raise TestbedError("down finished with errors:\n" + "\n".join(errors))
    return stopped


def status(*, paths: Paths | None = None) -> dict[str, Any]:
    paths = paths or Paths.default()
    ctx = ClusterContext.load(paths)
    facts = ctx.facts()
    processes = {}
    for pidfile in sorted(paths.run_dir.glob("*.pid")) if paths.run_dir.exists() else []:
        recorded = procs.read_pidfile(pidfile)
        if recorded is not None:
            processes[recorded.name] = {"pid": recorded.pid, "alive": recorded.alive(),
                                        "rss_kib": procs.rss_kib(recorded.pid) if recorded.alive() else 0}
    ready = bool(facts) and ctx.ready()
    control_plane_rss = sum(p["rss_kib"] for n, p in processes.items() if n in CONTROL_PLANE_ORDER)
    return {"ready": ready, "control_plane_rss_kib": control_plane_rss,
            "total_rss_kib": sum(p["rss_kib"] for p in processes.values()),
            "server": facts.get("server"), "kubeconfig": facts.get("kubeconfig"),
            "context": facts.get("context"), "nodes": facts.get("nodes", []), "processes": processes,
            "ingress_url": facts.get("ingress_url"), "containerd_address": facts.get("containerd_address")}


def format_status(report: dict[str, Any]) -> str:
    if not report["processes"]:
        return "test bed: not running"
    lines = [f"test bed: {'ready' if report['ready'] else 'NOT ready'} at {report['server']} "
             f"(context {report['context']}, kubeconfig {report['kubeconfig']})"]
    total = 0
    for name, proc in report["processes"].items():
        total += proc["rss_kib"]
        lines.append(f"  {name:<26} pid {proc['pid']:<8} {'running' if proc['alive'] else 'DEAD':<8} "
                     f"{proc['rss_kib'] / 1024:.0f} MiB")
    lines.append(f"  RSS: control plane {report['control_plane_rss_kib'] / 1024:.0f} MiB, all {total / 1024:.0f} MiB; "
                 f"nodes: {', '.join(report['nodes'])}")
    return "\n".join(lines)

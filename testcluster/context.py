"""The running test bed as the code sees it: ports, network, and the :class:`ClusterContext`.

:mod:`testcluster.controlplane` creates the context; the node part (:mod:`testcluster.node`, its
runtime, cleanup and add-ons) receives it to join and extend the cluster: where things are, the
certificates, starting and stopping recorded processes, the facts in ``run/cluster.json`` and an
API client. :class:`ClusterInfo` is what ``controlplane.up`` returns.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from testcluster import procs
from testcluster.components import KUBERNETES_VERSION
from testcluster.errors import TestbedError
from testcluster.paths import CONTEXT_NAME, Paths
from testcluster.pki import CertPair, Pki, kubeconfig_document, write_private_file

DEFAULT_SIMULATED_NODES = 2


@dataclass(frozen=True)
class Ports:
    apiserver: int = 6443
    etcd_client: int = 2379
    etcd_peer: int = 2380
    controller_manager: int = 10257
    scheduler: int = 10259
    kwok: int = 10247

    def offset(self, delta: int) -> Ports:
        """The same layout shifted by ``delta`` (a second, private test bed)."""
        return Ports(**{name: port + delta for name, port in asdict(self).items()})

    def free(self) -> bool:
        return not any(port_in_use(port) for port in asdict(self).values())

    @classmethod
    def first_free(cls, step: int = 100, attempts: int = 20) -> Ports:
        """The first layout, shifted by multiples of ``step``, whose ports are all free (a private test bed)."""
        for i in range(1, attempts + 1):
            candidate = cls().offset(i * step)
            if candidate.free():
                return candidate
        raise TestbedError(f"no free port layout found for a private test bed (tried {attempts} offsets)")


@dataclass(frozen=True)
class Network:
    service_cidr: str = "10.96.0.0/16"
    pod_cidr: str = "10.244.0.0/16"
    simulated_pod_cidr: str = "10.250.0.0/16"
    node_cidr_mask: int = 24
    cluster_domain: str = "cluster.local"
    # Where kube-apiserver listens. Loopback unless a real node runs: then pods must reach it through
    # the `kubernetes` Service, which points at advertise_address (a host address, never loopback).
    bind_address: str = "127.0.0.1"
    advertise_address: str = "127.0.0.1"

    @property
    def kubernetes_service_ip(self) -> str:
        return str(next(ipaddress.ip_network(self.service_cidr).hosts()))

    @property
    def cluster_dns_ip(self) -> str:
        return str(ipaddress.ip_network(self.service_cidr).network_address + 10)


def host_address() -> str:
    """The host's primary IPv4 address (source of the default route), loopback when there is none."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("192.0.2.1", 9))  # TEST-NET: nothing is sent, this only selects a route
        address = sock.getsockname()[0]
        if address and not address.startswith("127."):
            return address
    return "127.0.0.1"


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


@dataclass
class ClusterContext:
    """Everything the node part (testcluster.node) needs to join and extend the running cluster."""

    paths: Paths
    ports: Ports = field(default_factory=Ports)
    network: Network = field(default_factory=Network)
    kubernetes_version: str = KUBERNETES_VERSION
    node_enabled: bool = True
    simulated_nodes: int = DEFAULT_SIMULATED_NODES
    real_nodes: int = 1  # 2: the optional second real node (testcluster.node.converge_workers)
    out: TextIO = field(default=sys.stdout, repr=False)

    # -- where things are
    @property
    def pki(self) -> Pki:
        return Pki(self.paths.pki_dir)

    @property
    def server(self) -> str:
        """The API server URL for processes on this host."""
        return f"https://127.0.0.1:{self.ports.apiserver}"

    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig (context ``todo-testbed``)."""
        return self.paths.kubeconfig

    @property
    def context(self) -> str:
        return CONTEXT_NAME

    @property
    def ca(self) -> CertPair:
        """Cluster CA: signs client certs (apiserver --client-ca-file) and serving certs."""
        return self.pki.pair("ca")

    @property
    def front_proxy_ca(self) -> CertPair:
        """Aggregation-layer CA (apiserver --requestheader-client-ca-file)."""
        return self.pki.pair("front-proxy-ca")

    @property
    def service_account_key(self) -> CertPair:
        return CertPair(self.paths.pki_dir / "sa.pub", self.paths.pki_dir / "sa.key")

    @property
    def kubeconfig_dir(self) -> Path:
        return self.paths.cluster_dir / "kubeconfigs"

    def binary(self, name: str) -> Path:
        return self.paths.binary(name)

    def log(self, message: str) -> None:
        print(message, file=self.out, flush=True)

    # -- credentials
    def issue_client_cert(self, name: str, common_name: str, organizations: Sequence[str] = ()) -> CertPair:
        """A client certificate signed by the cluster CA: the API server maps CN to user, O to groups."""
        return self.pki.issue(name, ca=self.ca, common_name=common_name, organizations=organizations)

    def issue_serving_cert(self, name: str, common_name: str, hosts: Sequence[str]) -> CertPair:
        """A serving certificate (server and client usage) signed by the cluster CA, for ``hosts``."""
        return self.pki.issue(name, ca=self.ca, common_name=common_name, hosts=hosts, server=True)

    def write_kubeconfig(self, name: str, common_name: str, organizations: Sequence[str] = ()) -> Path:
        """A self-contained kubeconfig for user ``common_name`` (groups ``organizations``).

        E.g. kubelet: ``write_kubeconfig("kubelet", "system:node:<node>", ["system:nodes"])``;
        kube-proxy: ``write_kubeconfig("kube-proxy", "system:kube-proxy")``.
        """
        pair = self.issue_client_cert(name, common_name, organizations)
        path = self.kubeconfig_dir / f"{name}.kubeconfig"
        doc = kubeconfig_document(self.server, self.ca.cert, pair, common_name, CONTEXT_NAME)
        write_private_file(path, yaml.safe_dump(doc, sort_keys=False))
        return path

    # -- processes (recorded in cluster.json and stopped by `down` by pid)
    def start_process(self, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                      cwd: Path | None = None) -> procs.Recorded:
        recorded = procs.start(name, [str(a) for a in argv], pidfile=self.paths.pidfile(name),
                               logfile=self.paths.logfile(name), env=env, cwd=cwd)
        facts = self.facts()
        pids = dict(facts.get("pids") or {})
        pids[name] = recorded.pid
        self.record(pids=pids)
        return recorded

    def stop_process(self, name: str, timeout: float = 20.0) -> bool:
        stopped = procs.stop_pidfile(self.paths.pidfile(name), timeout=timeout)
        facts = self.facts()
        if facts and name in (facts.get("pids") or {}):
            pids = dict(facts["pids"])
            pids.pop(name)
            self.record(pids=pids)
        return stopped

    def process(self, name: str) -> procs.Recorded | None:
        return procs.read_pidfile(self.paths.pidfile(name))

    # -- facts for the runbook (run/cluster.json)
    def facts(self) -> dict[str, Any]:
        try:
            return json.loads(self.paths.cluster_json.read_text())
        except (OSError, ValueError):
            return {}

    def record(self, **facts: Any) -> dict[str, Any]:
        """Merge ``facts`` into cluster.json (e.g. ``ingress_url``, ``containerd_address``)."""
        data = self.facts()
        data.update(facts)
        self.paths.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.paths.cluster_json.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
        tmp.replace(self.paths.cluster_json)
        return data

    # -- talking to the API
    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca.cert))
        admin = self.pki.pair("admin")
        context.load_cert_chain(str(admin.cert), str(admin.key))
        return context

    def get(self, path: str, timeout: float = 5.0) -> tuple[int, str]:
        request = urllib.request.Request(self.server + path)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self.ssl_context()) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")

    def ready(self) -> bool:
        try:
            status, body = self.get("/readyz", timeout=3)
        except (OSError, ssl.SSLError):
            return False
        return status == 200 and body.strip() == "ok"

    def api_client(self) -> Any:
        """A kubernetes.client.ApiClient for the admin user."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig), context=CONTEXT_NAME)

    def to_json(self) -> dict[str, Any]:
        return {"cache": str(self.paths.cache), "state": str(self.paths.cluster_dir), "ports": asdict(self.ports),
                "network": asdict(self.network), "node_enabled": self.node_enabled,
                "simulated_nodes": self.simulated_nodes, "real_nodes": self.real_nodes}

    @classmethod
    def load(cls, paths: Paths, out: TextIO = sys.stdout) -> ClusterContext:
        """The context of the running (or last) test bed in ``paths``, defaults when none is recorded."""
        ctx = cls(paths=paths, out=out)
        saved = ctx.facts().get("settings")
        if saved:
            ctx = cls(paths=paths, ports=Ports(**saved["ports"]), network=Network(**saved["network"]),
                      node_enabled=saved["node_enabled"], simulated_nodes=saved["simulated_nodes"],
                      real_nodes=int(saved.get("real_nodes", 1)), out=out)
        return ctx


@dataclass
class ClusterInfo:
    """What ``up`` returns: the facts of cluster.json plus how long it took."""

    context: str
    kubeconfig: str
    server: str
    nodes: list[str]
    pids: dict[str, int]
    seconds: float
    reused: bool
    ingress_url: str | None = None
    containerd_address: str | None = None
    node_error: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)

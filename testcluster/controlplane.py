"""The test bed's control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.

``up()`` starts them on loopback (idempotent), writes the admin kubeconfig (context ``todo-testbed``)
and ``run/cluster.json``, waits until ``/readyz`` answers, creates simulated (kwok) nodes, then hands
a :class:`ClusterContext` to ``testcluster.node.up(ctx)`` when that module exists and the node is
enabled. ``down()`` calls ``testcluster.node.down(ctx)`` first, then stops every recorded process by
pid and removes the run state.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import importlib.util
import ipaddress
import json
import os
import shutil
import socket
import ssl
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from testcluster import procs
from testcluster.components import kwok_stage_files
from testcluster.paths import CONTEXT_NAME, Paths

KUBERNETES_VERSION = "v1.34.4"
SIMULATED_LABEL = "testbed.todo-runbook.io/simulated"
DEFAULT_SIMULATED_NODES = 2
CONTROL_PLANE_ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


class TestbedError(RuntimeError):
    """The test bed could not be brought up or down; the message says what to do."""

    __test__ = False  # not a pytest test class despite the name


# ----------------------------------------------------------------------------------------------
# Settings


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


def node_module_available() -> bool:
    return importlib.util.find_spec("testcluster.node") is not None


# ----------------------------------------------------------------------------------------------
# PKI


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


class Pki:
    """Certificates of the test bed (ECDSA P-256), written as PEM files in one folder."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def pair(self, name: str) -> CertPair:
        return CertPair(self.directory / f"{name}.crt", self.directory / f"{name}.key")

    def ensure_ca(self, name: str, common_name: str) -> CertPair:
        """Reuse the CA when it exists and is valid for at least a week more, otherwise create it."""
        from cryptography import x509

        pair = self.pair(name)
        if pair.cert.exists() and pair.key.exists():
            cert = x509.load_pem_x509_certificate(pair.cert.read_bytes())
            if cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=7):
                return pair
        return self._write(name, common_name, (), ca=None, is_ca=True, days=3650, usages=())

    def issue(
        self,
        name: str,
        *,
        ca: CertPair,
        common_name: str,
        organizations: Sequence[str] = (),
        hosts: Sequence[str] = (),
        client: bool = True,
        server: bool = False,
        days: int = 365,
    ) -> CertPair:
        """Issue (or re-issue) a leaf certificate signed by ``ca``; ``hosts`` are DNS names or IPs."""
        usages = (("client",) if client else ()) + (("server",) if server else ())
        return self._write(name, common_name, organizations, ca=ca, is_ca=False, days=days, usages=usages,
                           hosts=hosts)

    def ensure_service_account_key(self) -> CertPair:
        """Key pair that signs service-account tokens (``cert`` is the public key PEM)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        pub, key = self.directory / "sa.pub", self.directory / "sa.key"
        if not (pub.exists() and key.exists()):
            private = ec.generate_private_key(ec.SECP256R1())
            self._write_private(key, private)
            pub.write_bytes(private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        return CertPair(pub, key)

    def _write_private(self, path: Path, private: Any) -> None:
        from cryptography.hazmat.primitives import serialization

        self.directory.mkdir(parents=True, exist_ok=True)
        data = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)

    def _write(
        self,
        name: str,
        common_name: str,
        organizations: Sequence[str],
        *,
        ca: CertPair | None,
        is_ca: bool,
        days: int,
        usages: Sequence[str],
        hosts: Sequence[str] = (),
    ) -> CertPair:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        private = ec.generate_private_key(ec.SECP256R1())
        attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in organizations]
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        subject = x509.Name(attributes)
        if ca is None:
            issuer, signing_key = subject, private
        else:
            ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
            issuer = ca_cert.subject
            signing_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        )
        if is_ca:
            builder = builder.add_extension(
                x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                              key_encipherment=False, data_encipherment=False, key_agreement=False,
                              encipher_only=False, decipher_only=False), critical=True)
        else:
            builder = builder.add_extension(
                x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=False, crl_sign=False,
                              content_commitment=False, data_encipherment=False, key_agreement=False,
                              encipher_only=False, decipher_only=False), critical=True)
            eku = {"client": ExtendedKeyUsageOID.CLIENT_AUTH, "server": ExtendedKeyUsageOID.SERVER_AUTH}
            builder = builder.add_extension(x509.ExtendedKeyUsage([eku[u] for u in usages]), critical=False)
        if hosts:
            names: list[x509.GeneralName] = []
            for host in dict.fromkeys(hosts):
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    names.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(signing_key, hashes.SHA256())
        pair = self.pair(name)
        self._write_private(pair.key, private)
        pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return pair


def kubeconfig_document(server: str, ca_cert: Path, client: CertPair, user: str, context: str) -> dict[str, Any]:
    import base64

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": {"server": server, "certificate-authority-data": b64(ca_cert)}}],
        "users": [{"name": user, "user": {"client-certificate-data": b64(client.cert),
                                          "client-key-data": b64(client.key)}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": user}}],
        "current-context": context,
        "preferences": {},
    }


def write_private_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tmp.replace(path)


# ----------------------------------------------------------------------------------------------
# The context handed to the node part


@dataclass
class ClusterContext:
    """Everything the node part (testcluster.node) needs to join and extend the running cluster."""

    paths: Paths
    ports: Ports = field(default_factory=Ports)
    network: Network = field(default_factory=Network)
    kubernetes_version: str = KUBERNETES_VERSION
    node_enabled: bool = True
    simulated_nodes: int = DEFAULT_SIMULATED_NODES
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
                "simulated_nodes": self.simulated_nodes}

    @classmethod
    def load(cls, paths: Paths, out: TextIO = sys.stdout) -> ClusterContext:
        """The context of the running (or last) test bed in ``paths``, defaults when none is recorded."""
        ctx = cls(paths=paths, out=out)
        saved = ctx.facts().get("settings")
        if saved:
            ctx = cls(paths=paths, ports=Ports(**saved["ports"]), network=Network(**saved["network"]),
                      node_enabled=saved["node_enabled"], simulated_nodes=saved["simulated_nodes"], out=out)
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
        # kwok updates node and pod status for simulated nodes: the simplest honest grant is admin.
        "kwok": ctx.write_kubeconfig("kwok", "todo-testbed-kwok", ["system:masters"]),
    }


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
    """Every control-plane process recorded and alive, and /readyz answering."""
    for name in CONTROL_PLANE_ORDER:
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
    ports: Ports | None = None,
    node_errors: str = "raise",
    out: TextIO = sys.stdout,
) -> ClusterInfo:
    """Start the test bed (or confirm it runs) and return its facts. Idempotent.

    ``node_errors="record"`` keeps a running control plane when the node part fails and returns the
    error in ``ClusterInfo.node_error`` (the pytest fixture uses this); ``"raise"`` re-raises it.
    """
    paths = paths or Paths.default()
    start = time.monotonic()
    count = DEFAULT_SIMULATED_NODES if simulated_nodes is None else simulated_nodes
    if count < 0:
        raise TestbedError(f"--simulated-nodes must be 0 or more, got {count}")
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
                             node_enabled=node_enabled, simulated_nodes=count, out=out)
        try:
            _start_control_plane(ctx)
        except BaseException:
            # Leave nothing half-started behind; the logs in logs/ stay for the post-mortem.
            down(paths=paths, out=out, quiet=True)
            raise
    else:
        ctx.log(f"up: control plane already running ({ctx.server})")
        ctx.simulated_nodes = count
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


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _check_ports_free(ctx: ClusterContext) -> None:
    busy = [f"{name} {port}" for name, port in asdict(ctx.ports).items() if port_in_use(port)]
    if busy:
        raise TestbedError(
            f"ports needed by the test bed are in use ({', '.join(busy)}): another test bed or Kubernetes runs "
            f"here. `python -m testcluster down` stops ours; `ss -ltnp` shows who holds the ports."
        )


def _start_control_plane(ctx: ClusterContext) -> None:
    paths = ctx.paths
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"):
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

    def start_and_wait(name: str, argv: list[str], check: Any, timeout: float) -> None:
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
    start_and_wait("kwok", _kwok_argv(ctx, kubeconfigs["kwok"]), lambda: ctx.process("kwok") is not None, 10)


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

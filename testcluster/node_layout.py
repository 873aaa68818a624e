"""Where a real node keeps things and what it records: :class:`NodeLayout` and :class:`NodeState`.

A leaf below the node's modules (it imports only :mod:`testcluster.paths`): the runtime, the
cleanup, the add-ons and the ``up``/``down`` entry points all share these names and paths.
Node 1 is the test bed's node (the add-ons run beside it); node 2 is the optional second node
(``python -m testcluster up --real-nodes 2``): its own containerd, kubelet, bridge and cgroup parent
on the same machine, so its names, ports and folders all differ from node 1's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from testcluster.paths import Paths, default_cache_root

NODE_NAME = "todo-testbed-node"
BRIDGE = "todotb0"
CNI_NETWORK = "todo-testbed"
PAUSE_IMAGE = "todo-runbook/pause:3.10"
PAUSE_REFERENCE = "docker.io/todo-runbook/pause:3.10"
# Processes the node part starts, in start order (down stops them in reverse).
NODE_PROCESSES = ("containerd", "kubelet", "kube-proxy", "coredns", "metrics-server", "traefik")
KUBELET_PORT = 10250
KUBELET_HEALTHZ_PORT = 10248
KUBE_PROXY_METRICS_PORT = 10249
KUBE_PROXY_HEALTHZ_PORT = 10256
MAX_REAL_NODES = 2
ALL_BRIDGES = tuple(f"todotb{index}" for index in range(MAX_REAL_NODES))
# The processes a second node starts (it shares node 1's kube-proxy: one per network namespace).
WORKER_PROCESSES = ("containerd", "kubelet")


@dataclass(frozen=True)
class NodeLayout:
    """Every name, port and path a real node uses, derived from the test bed's cache root and its index."""

    paths: Paths
    index: int = 1

    @property
    def first(self) -> bool:
        return self.index == 1

    def _suffix(self, sep: str = "-") -> str:
        return "" if self.first else f"{sep}{self.index}"

    @property
    def node_name(self) -> str:
        return NODE_NAME + self._suffix()

    @property
    def bridge(self) -> str:
        return ALL_BRIDGES[self.index - 1]

    @property
    def cni_network(self) -> str:
        return CNI_NETWORK + self._suffix()

    @property
    def kubelet_port(self) -> int:
        return KUBELET_PORT + 10 * (self.index - 1)

    @property
    def kubelet_healthz_port(self) -> int:
        return KUBELET_HEALTHZ_PORT + 10 * (self.index - 1)

    def process(self, name: str) -> str:
        """The pidfile name of one of this node's processes (``kubelet``, ``kubelet-2``)."""
        return name + self._suffix()

    @property
    def cgroup_parent(self) -> str:
        # The kubelet's cgroupRoot: node 1 keeps the default (/kubepods); node 2 nests its pods under its own
        # parent, so neither kubelet sees, evicts or cleans up the other's pods.
        return "/" if self.first else f"/{NODE_NAME}{self._suffix()}"

    @property
    def kubepods_cgroup(self) -> str:
        return "kubepods" if self.first else f"{self.cgroup_parent.strip('/')}/kubepods"

    @property
    def root(self) -> Path:
        return self.paths.data_dir / ("node" + self._suffix())

    @property
    def pod_logs_dir(self) -> Path | None:
        # The kubelet removes log folders of pods it does not know under its podLogsDir: two kubelets must not
        # share /var/log/pods.
        return None if self.first else self.root / "pod-logs"

    @property
    def run_root(self) -> Path:
        # Sockets want a short path. The default cache gets /run/todo-testbed; any other cache its own
        # folder, derived from the cache path alone so every process computes the same one.
        if self.paths.cache.resolve() == default_cache_root().resolve():
            return Path("/run/todo-testbed" + self._suffix("-n"))
        digest = hashlib.sha256(str(self.paths.cache.resolve()).encode()).hexdigest()[:8]
        return Path(f"/run/todo-testbed-{digest}" + self._suffix("-n"))

    @property
    def containerd_socket(self) -> Path:
        return self.run_root / "containerd.sock"

    @property
    def containerd_state(self) -> Path:
        return self.run_root / "containerd"

    @property
    def containerd_root(self) -> Path:
        return self.root / "containerd"

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd.toml"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.root / "cni" / "networks"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet-config.yaml"

    @property
    def kube_proxy_config(self) -> Path:
        return self.root / "kube-proxy-config.yaml"

    @property
    def registry_hosts_dir(self) -> Path:
        # containerd's registry host configuration (config_path): kept across `down`, like the PKI, so a
        # registry started before the node is trusted by it (testcluster/registry.py writes it).
        return self.paths.cluster_dir / "registry-hosts"

    @property
    def volumes_dir(self) -> Path:
        return self.root / "volumes"

    @property
    def state_file(self) -> Path:
        return self.paths.run_dir / f"node{self._suffix()}.json"

    def owned_dirs(self) -> list[Path]:
        return [self.root, self.run_root]


@dataclass
class NodeState:
    """What ``up`` learnt and ``down`` needs (run/node.json)."""

    node_name: str = NODE_NAME
    index: int = 1
    node_ip: str = ""
    pod_cidr: str = ""
    gateway_ip: str = ""
    containerd_address: str = ""
    join_seconds: float | None = None
    pause_load_seconds: float | None = None
    addons: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, layout: NodeLayout) -> NodeState:
        try:
            data = json.loads(layout.state_file.read_text())
        except (OSError, ValueError):
            return cls()
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def save(self, layout: NodeLayout) -> None:
        layout.state_file.parent.mkdir(parents=True, exist_ok=True)
        layout.state_file.write_text(json.dumps(asdict(self), indent=2) + "\n")

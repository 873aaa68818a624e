"""One real worker node on the host: containerd + CNI (bridge) + kubelet + kube-proxy, plus the add-ons.

``up(ctx)`` is called by ``testcluster.controlplane.up`` with a ``ClusterContext``; ``down(ctx)`` by
``controlplane.down`` before the control plane stops. Both are idempotent.

What runs, and where its state lives (everything ours, nothing shared with Docker):

- containerd (Debian's) with its own config, socket ``/run/todo-testbed/containerd.sock``, state
  ``/run/todo-testbed/containerd`` and root ``$CACHE/testcluster/data/node/containerd``; CRI enabled,
  runc with cgroupfs (``SystemdCgroup = false``), sandbox image ``todo-runbook/pause:3.10`` built here.
- CNI (Debian's plugins): bridge ``todotb0`` + host-local IPAM on the node's ``spec.podCIDR`` (allocated by
  the controller manager from 10.244.0.0/16) + portmap; the bridge's gateway address is the node's
  "service address": CoreDNS and metrics-server listen there, so pods and the API server reach them.
- kubelet v1.34 (cgroupfs, swap allowed, cgroup v1 allowed) as node ``todo-testbed-node`` with a
  client certificate from the cluster CA and a CA-signed serving certificate; kube-proxy in iptables mode.

``down`` stops pod sandboxes through CRI (so CNI removes veths, IPAM entries and its iptables chains),
stops every process by pid, kills leftover shims of *our* socket, unmounts whatever is left under our
folders, deletes the bridge, runs ``kube-proxy --cleanup`` and removes any remaining ``KUBE-*``/``CNI-*``
iptables chains (Docker's rules are left alone), and removes the node's cgroups. :func:`leftovers` is
the checker that proves nothing is left.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from testcluster import procs
from testcluster.paths import Paths

NODE_NAME = "todo-testbed-node"
BRIDGE = "todotb0"
CNI_NETWORK = "todo-testbed"
PAUSE_IMAGE = "todo-runbook/pause:3.10"
PAUSE_REFERENCE = "docker.io/todo-runbook/pause:3.10"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEBIAN_PACKAGES = (
    "containerd", "runc", "containernetworking-plugins", "iptables", "conntrack", "socat", "ethtool",
    "iproute2", "util-linux", "mount", "kmod",
)
CNI_BIN_DIR = Path("/usr/lib/cni")
# Processes the node part starts, in start order (down stops them in reverse).
NODE_PROCESSES = ("containerd", "kubelet", "kube-proxy", "coredns", "metrics-server", "traefik")
KUBELET_PORT = 10250
KUBELET_HEALTHZ_PORT = 10248
KUBE_PROXY_METRICS_PORT = 10249
KUBE_PROXY_HEALTHZ_PORT = 10256
OWN_CHAIN_PREFIXES = ("KUBE-", "CNI-")


class NodeError(RuntimeError):
    """The node could not be brought up or down; the message says what failed and what to do."""


# ----------------------------------------------------------------------------------------------
# Layout


@dataclass(frozen=True)
class NodeLayout:
    """Every path the node uses, derived from the test bed's cache root."""

    paths: Paths

    @property
    def root(self) -> Path:
        return self.paths.data_dir / "node"

    @property
    def run_root(self) -> Path:
        # Sockets want a short path. The default cache gets /run/todo-testbed; any other cache its own
        # folder, derived from the cache path alone so every process computes the same one.
        if self.paths.cache.resolve() == (Path.home() / ".cache" / "todo-runbook").resolve():
            return Path("/run/todo-testbed")
        digest = hashlib.sha256(str(self.paths.cache.resolve()).encode()).hexdigest()[:8]
        return Path(f"/run/todo-testbed-{digest}")

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
    def volumes_dir(self) -> Path:
        return self.root / "volumes"

    @property
    def state_file(self) -> Path:
        return self.paths.run_dir / "node.json"

    def owned_dirs(self) -> list[Path]:
        return [self.root, self.run_root]


@dataclass
class NodeState:
    """What ``up`` learnt and ``down`` needs (run/node.json)."""

    node_name: str = NODE_NAME
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


# ----------------------------------------------------------------------------------------------
# Small helpers


def run(
    cmd: list[str], *, check: bool = True, timeout: float = 120, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command, captured; on failure raise NodeError with the command line and its output."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
    except FileNotFoundError as error:
        raise NodeError(f"`{cmd[0]}` is not installed: {error}. Run `scripts/apt-ensure.sh "
                        f"{' '.join(DEBIAN_PACKAGES)}`.") from error
    except subprocess.TimeoutExpired as error:
        raise NodeError(f"`{shlex.join(cmd)}` timed out after {timeout:.0f}s") from error
    if check and proc.returncode != 0:
        raise NodeError(f"`{shlex.join(cmd)}` failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()}")
    return proc


def write_if_changed(path: Path, text: str, mode: int = 0o644) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text() == text:
        return False
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)
    return True


def ensure_debian_packages() -> None:
    script = REPO_ROOT / "scripts" / "apt-ensure.sh"
    proc = subprocess.run(["bash", str(script), *DEBIAN_PACKAGES], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise NodeError(f"installing the node's Debian packages failed: {proc.stderr.strip()[-1500:]}")


def set_sysctl(name: str, value: str) -> None:
    path = Path("/proc/sys") / name.replace(".", "/")
    if not path.exists():
        return  # e.g. br_netfilter not built in: bridged traffic then skips iptables (pod->own service only)
    if path.read_text().strip() != value:
        path.write_text(value)


# The kubelet (protectKernelDefaults=false) sets these host sysctls to what it expects; `up` saves the
# host's values first and `down` puts them back.
KUBELET_SYSCTLS = ("vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
                   "kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes")


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def save_sysctls(layout: NodeLayout) -> None:
    saved = layout.paths.cluster_dir / "node-sysctls.json"
    if saved.exists():  # the kubelet already ran: keep the values from before it
        return
    values = {name: _sysctl_path(name).read_text().strip() for name in KUBELET_SYSCTLS if _sysctl_path(name).exists()}
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(values, indent=2) + "\n")


def changed_sysctls(layout: NodeLayout) -> dict[str, tuple[str, str]]:
    """name -> (host value before up, current value) for every sysctl that differs."""
    saved = layout.paths.cluster_dir / "node-sysctls.json"
    try:
        values = json.loads(saved.read_text())
    except (OSError, ValueError):
        return {}
    changed = {}
    for name, value in values.items():
        current = _sysctl_path(name).read_text().strip()
        if current != value:
            changed[name] = (value, current)
    return changed


def restore_sysctls(layout: NodeLayout) -> list[str]:
    problems = []
    for name, (value, _current) in changed_sysctls(layout).items():
        try:
            _sysctl_path(name).write_text(value)
        except OSError as error:
            problems.append(f"restoring {name}={value}: {error}")
    if not problems:
        (layout.paths.cluster_dir / "node-sysctls.json").unlink(missing_ok=True)
    return problems


def cpu_mem_check() -> None:
    if os.geteuid() != 0:
        raise NodeError("the real node needs root (containerd, kubelet, iptables); run the test bed as root "
                        "or use `python -m testcluster up --no-node`.")


# ----------------------------------------------------------------------------------------------
# Pause image


def pause_image_present() -> bool:
    return subprocess.run(["docker", "image", "inspect", PAUSE_IMAGE], capture_output=True).returncode == 0


def build_pause_image(paths: Paths) -> None:
    """Build ``todo-runbook/pause:3.10`` from testcluster/pause (a static Go binary, FROM scratch)."""
    from testcluster.build import find_go, go_env

    source = Path(__file__).resolve().parent / "pause"
    work = paths.build_dir / "pause-3.10"
    work.mkdir(parents=True, exist_ok=True)
    env = go_env()
    env["CGO_ENABLED"] = "0"
    proc = subprocess.run([find_go(), "build", "-trimpath", "-ldflags=-s -w", "-o", str(work / "pause"), "."],
                          cwd=source, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise NodeError(f"building the pause binary failed: {proc.stderr.strip()}")
    shutil.copy(source / "Dockerfile", work / "Dockerfile")
    run(["docker", "build", "-q", "-t", PAUSE_IMAGE, str(work)], timeout=300)


def ensure_pause_image(paths: Paths) -> None:
    if not pause_image_present():
        build_pause_image(paths)


# ----------------------------------------------------------------------------------------------
# containerd


def can_lower_oom_score() -> bool:
    """True when this process may lower oom_score_adj (needs CAP_SYS_RESOURCE in the bounding set)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            return bool(int(line.split()[1], 16) & (1 << 24))  # CAP_SYS_RESOURCE = 24
    return True


def containerd_config(layout: NodeLayout) -> str:
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    restrict_oom = not can_lower_oom_score()
    return f"""# Written by testcluster/node.py: the test bed node's own containerd (not Docker's).
version = 2
root = "{layout.containerd_root}"
state = "{layout.containerd_state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{layout.containerd_socket}"

[ttrpc]
  address = "{layout.containerd_socket}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{layout.containerd_root}/opt"

[{cri}]
  sandbox_image = "{PAUSE_REFERENCE}"
  enable_selinux = false
  # This machine's bounding set lacks CAP_SYS_RESOURCE, so no process may lower oom_score_adj
  # (runc fails with "failed to update /proc/self/oom_score_adj: Permission denied" for the
  # sandbox's -998). Clamp every adjustment to containerd's own score instead.
  restrict_oom_score_adj = {"true" if restrict_oom else "false"}
  max_container_log_line_size = 16384

  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    discard_unpacked_layers = false

    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "{shutil.which('runc') or '/usr/sbin/runc'}"

  [{cri}.cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{layout.cni_conf_dir}"
    max_conf_num = 1
"""


def ctr(layout: NodeLayout, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["ctr", "--address", str(layout.containerd_socket), "-n", "k8s.io", *args], timeout=timeout, check=check)


def containerd_ready(layout: NodeLayout) -> bool:
    if not layout.containerd_socket.exists():
        return False
    return ctr(layout, "version", timeout=5, check=False).returncode == 0


def start_containerd(ctx: Any, layout: NodeLayout) -> None:
    for directory in (layout.containerd_root, layout.containerd_state, layout.cni_conf_dir, layout.cni_ipam_dir):
        directory.mkdir(parents=True, exist_ok=True)
    write_if_changed(layout.containerd_config, containerd_config(layout))
    recorded = ctx.start_process("containerd", ["containerd", "--config", str(layout.containerd_config),
                                                "--log-level", "warn"])
    procs.wait_until(lambda: containerd_ready(layout), what="containerd to answer on its socket", timeout=60,
                     watch=recorded)


def import_pause(ctx: Any, layout: NodeLayout) -> float | None:
    from testcluster import images

    if PAUSE_REFERENCE in images.list_images(str(layout.containerd_socket)):
        return None
    result = images.load_image(PAUSE_IMAGE, address=str(layout.containerd_socket))
    # Pinned: the kubelet's image garbage collector must never remove the sandbox image.
    ctr(layout, "images", "label", PAUSE_REFERENCE, "io.cri-containerd.pinned=pinned", check=False)
    return result.seconds


# ----------------------------------------------------------------------------------------------
# kubelet


def kubelet_config(ctx: Any, layout: NodeLayout, node_ip: str, serving: Any) -> dict[str, Any]:
    net = ctx.network
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node_ip,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": KUBELET_HEALTHZ_PORT,
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True, "cacheTTL": "30s"},
            "x509": {"clientCAFile": str(ctx.ca.cert)},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(serving.cert),
        "tlsPrivateKeyFile": str(serving.key),
        # This machine has cgroup v1 hierarchies (plus a cgroup2 'unified' mount) and no systemd.
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "clusterDNS": [net.cluster_dns_ip],
        "clusterDomain": net.cluster_domain,
        "resolvConf": "/etc/resolv.conf",
        "hairpinMode": "hairpin-veth",
        "serializeImagePulls": False,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "maxPods": 110,
        # A shared CI disk is often fuller than the defaults allow; evicting the app would only confuse tests.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "nodefs.inodesFree": "1%",
                         "imagefs.available": "1%"},
        "imageGCHighThresholdPercent": 99,
        "imageGCLowThresholdPercent": 98,
        "nodeStatusUpdateFrequency": "10s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "20s",
        "volumeStatsAggPeriod": "30s",
        "shutdownGracePeriod": "0s",
        "containerLogMaxSize": "10Mi",
        "containerLogMaxFiles": 3,
        "protectKernelDefaults": False,
        # The kubelet would lower its own oom_score_adj to -999; without CAP_SYS_RESOURCE it cannot.
        "oomScoreAdj": -999 if can_lower_oom_score() else 0,
    }


def start_kubelet(ctx: Any, layout: NodeLayout, node_ip: str) -> Any:
    kubeconfig = ctx.write_kubeconfig("kubelet", f"system:node:{NODE_NAME}", ["system:nodes"])
    serving = ctx.issue_serving_cert("kubelet-serving", f"system:node:{NODE_NAME}",
                                     [NODE_NAME, node_ip, "127.0.0.1", "localhost"])
    layout.kubelet_root.mkdir(parents=True, exist_ok=True)
    write_if_changed(layout.kubelet_config, yaml.safe_dump(kubelet_config(ctx, layout, node_ip, serving),
                                                           sort_keys=False))
    argv = [
        str(ctx.binary("kubelet")),
        f"--config={layout.kubelet_config}",
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={node_ip}",
        f"--root-dir={layout.kubelet_root}",
        f"--cert-dir={layout.root / 'kubelet-pki'}",
        "--node-labels=testbed.todo-runbook.io/real=true",  # kubelets may not set node-role.kubernetes.io/*
        "--v=1",
    ]
    return ctx.start_process("kubelet", argv)


def core_api(ctx: Any) -> Any:
    from kubernetes import client

    return client.CoreV1Api(ctx.api_client())


def node_object(ctx: Any) -> Any | None:
    from kubernetes.client.rest import ApiException

    try:
        return core_api(ctx).read_node(NODE_NAME)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def node_ready(node: Any) -> bool:
    conditions = (node.status.conditions or []) if node is not None and node.status else []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def not_ready_taint_lifted(node: Any) -> bool:
    taints = (node.spec.taints or []) if node is not None else [None]
    return not any(t is None or t.key == "node.kubernetes.io/not-ready" for t in taints)


# ----------------------------------------------------------------------------------------------
# CNI and the bridge


def cni_conflist(layout: NodeLayout, pod_cidr: str, gateway: str) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": pod_cidr, "gateway": gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(layout.cni_ipam_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
            # Docker sets the FORWARD policy to DROP, and bridged pod-to-pod traffic passes FORWARD
            # (br_netfilter): the firewall plugin accepts each pod's traffic in its own CNI-FORWARD chain.
            {"type": "firewall", "backend": "iptables"},
        ],
    }


def ensure_bridge(gateway: str, prefix: int) -> None:
    """Create the bridge with the gateway address before any pod exists, so host add-ons can bind to it."""
    if run(["ip", "link", "show", BRIDGE], check=False).returncode != 0:
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    addresses = run(["ip", "-4", "-o", "addr", "show", "dev", BRIDGE]).stdout
    if f" {gateway}/" not in addresses:
        run(["ip", "addr", "add", f"{gateway}/{prefix}", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])


def configure_cni(layout: NodeLayout, pod_cidr: str) -> str:
    network = ipaddress.ip_network(pod_cidr)
    gateway = str(network.network_address + 1)
    ensure_bridge(gateway, network.prefixlen)
    write_if_changed(layout.cni_conf_dir / "10-todo-testbed.conflist",
                     json.dumps(cni_conflist(layout, pod_cidr, gateway), indent=2) + "\n")
    return gateway


# ----------------------------------------------------------------------------------------------
# kube-proxy


def kube_proxy_config(ctx: Any, kubeconfig: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": NODE_NAME,
        "clusterCIDR": ctx.network.pod_cidr,
        "metricsBindAddress": f"127.0.0.1:{KUBE_PROXY_METRICS_PORT}",
        "healthzBindAddress": f"127.0.0.1:{KUBE_PROXY_HEALTHZ_PORT}",
        # 0 = leave the host's conntrack sysctls alone (shared CI machine).
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        # Service IPs from the host itself work through OUTPUT; NodePorts on 127.0.0.1 would need
        # route_localnet=1 on the whole host, which we do not change.
        "iptables": {"localhostNodePorts": False, "syncPeriod": "10s", "minSyncPeriod": "1s"},
        "oomScoreAdj": -999 if can_lower_oom_score() else 0,
    }


def start_kube_proxy(ctx: Any, layout: NodeLayout) -> Any:
    kubeconfig = ctx.write_kubeconfig("kube-proxy", "system:kube-proxy")
    write_if_changed(layout.kube_proxy_config, yaml.safe_dump(kube_proxy_config(ctx, kubeconfig), sort_keys=False))
    return ctx.start_process("kube-proxy", [str(ctx.binary("kube-proxy")), f"--config={layout.kube_proxy_config}",
                                            "--v=1"])


def kube_proxy_healthy() -> bool:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{KUBE_PROXY_HEALTHZ_PORT}/healthz", timeout=2) as response:
        return response.status == 200


# ----------------------------------------------------------------------------------------------
# up


def required_binaries(ctx: Any) -> None:
    for name in ("kubelet", "kube-proxy", "crictl", "coredns", "metrics-server", "traefik"):
        ctx.binary(name)  # raises with `python -m testcluster build` in the message


def up(ctx: Any) -> NodeState:
    """Bring the node (and its add-ons) up; idempotent. Returns what it learnt (also in run/node.json)."""
    from testcluster import addons

    cpu_mem_check()
    layout = NodeLayout(ctx.paths)
    state = NodeState.load(layout)
    required_binaries(ctx)
    t0 = time.monotonic()
    ensure_debian_packages()
    ensure_pause_image(ctx.paths)
    set_sysctl("net.ipv4.ip_forward", "1")
    set_sysctl("net.bridge.bridge-nf-call-iptables", "1")
    ctx.log(f"node: packages, pause image and sysctls ready ({time.monotonic() - t0:.1f}s)")

    t = time.monotonic()
    start_containerd(ctx, layout)
    state.containerd_address = str(layout.containerd_socket)
    pause_seconds = import_pause(ctx, layout)
    if pause_seconds is not None:
        state.pause_load_seconds = round(pause_seconds, 2)
    ctx.record(containerd_address=state.containerd_address)
    ctx.log(f"node: containerd on {layout.containerd_socket} ({time.monotonic() - t:.1f}s)")

    node_ip = ctx.network.advertise_address
    if node_ip.startswith("127."):
        raise NodeError("the real node needs a non-loopback host address for the kubelet and the `kubernetes` "
                        "Service; the control plane advertises 127.0.0.1 (start it with the node enabled).")
    state.node_ip = node_ip
    ensure_single_node(ctx, node_ip)
    join_start = time.monotonic()
    save_sysctls(layout)
    kubelet = start_kubelet(ctx, layout, node_ip)

    def registered_with_cidr() -> bool:
        node = node_object(ctx)
        return node is not None and bool(node.spec.pod_cidr)

    procs.wait_until(registered_with_cidr, what=f"node {NODE_NAME} to register and get a pod CIDR", timeout=120,
                     interval=0.5, watch=kubelet)
    node = node_object(ctx)
    state.pod_cidr = node.spec.pod_cidr
    state.gateway_ip = configure_cni(layout, state.pod_cidr)
    # Ready alone is not enough: pods cannot land until the node controller lifts the not-ready taint.
    procs.wait_until(lambda: node_ready(node_object(ctx)) and not_ready_taint_lifted(node_object(ctx)),
                     what=f"node {NODE_NAME} Ready and schedulable", timeout=120, interval=0.5, watch=kubelet)
    if state.join_seconds is None or not kubelet_was_running(state):
        state.join_seconds = round(time.monotonic() - join_start, 2)
    ctx.log(f"node: {NODE_NAME} Ready in {time.monotonic() - join_start:.1f}s (pod CIDR {state.pod_cidr}, "
            f"gateway {state.gateway_ip}, kubelet pid {kubelet.pid})")

    proxy = start_kube_proxy(ctx, layout)
    procs.wait_until(kube_proxy_healthy, what="kube-proxy /healthz", timeout=60, watch=proxy)
    state.save(layout)

    state.addons = addons.up(ctx, layout, state)
    state.save(layout)
    ctx.record(node={"name": NODE_NAME, "ip": node_ip, "pod_cidr": state.pod_cidr, "gateway": state.gateway_ip,
                     "join_seconds": state.join_seconds})
    ctx.log(f"node: ready with add-ons in {time.monotonic() - t0:.1f}s")
    return state


def ensure_single_node(ctx: Any, node_ip: str) -> None:
    """One real node per machine: the kubelet port, the bridge and /kubepods cannot be shared."""
    recorded = ctx.process("kubelet")
    if recorded is not None and recorded.alive():
        return
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        in_use = probe.connect_ex((node_ip, KUBELET_PORT)) == 0
    if in_use or BRIDGE in bridge_links():
        raise NodeError(
            f"another real node already runs on this machine ({node_ip}:{KUBELET_PORT} answers or bridge {BRIDGE} "
            "exists), probably a test bed with another cache folder. Only one real node fits on a machine: take "
            "that one down (`TODO_RUNBOOK_CACHE=<its cache> python -m testcluster down`), then run `up` again."
        )


def kubelet_was_running(state: NodeState) -> bool:
    return bool(state.pod_cidr)


# ----------------------------------------------------------------------------------------------
# down


def _crictl(ctx: Any, layout: NodeLayout, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    try:
        crictl = str(ctx.binary("crictl"))
    except Exception:
        crictl = shutil.which("crictl") or "crictl"
    endpoint = f"unix://{layout.containerd_socket}"
    return run([crictl, "--runtime-endpoint", endpoint, "--image-endpoint", endpoint, "--timeout", "60s", *args],
               check=False, timeout=timeout)


def remove_pods(ctx: Any, layout: NodeLayout) -> list[str]:
    """Stop and remove every pod sandbox through CRI: containerd then runs CNI DEL for each."""
    problems: list[str] = []
    if not containerd_ready(layout):
        return problems
    listed = _crictl(ctx, layout, "pods", "-q")
    if listed.returncode != 0:
        problems.append(f"crictl pods failed: {listed.stderr.strip()}")
        return problems
    for pod in listed.stdout.split():
        stopped = _crictl(ctx, layout, "stopp", pod)
        removed = _crictl(ctx, layout, "rmp", "-f", pod)
        if removed.returncode != 0:
            problems.append(f"crictl rmp {pod}: {(removed.stderr or stopped.stderr).strip()}")
    # Anything that is not a CRI pod (e.g. a `ctr run`) goes too.
    tasks = ctr(layout, "tasks", "ls", "-q", check=False).stdout.split()
    for task in tasks:
        ctr(layout, "tasks", "kill", "-s", "SIGKILL", task, check=False)
    for container in ctr(layout, "containers", "ls", "-q", check=False).stdout.split():
        ctr(layout, "tasks", "rm", "-f", container, check=False)
        ctr(layout, "containers", "rm", container, check=False)
    return problems


def shim_pids(layout: NodeLayout) -> list[int]:
    """containerd shims that serve *our* containerd (their command line names our socket)."""
    found = []
    needle = str(layout.containerd_socket)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and needle.encode() in argv:
            found.append(int(entry.name))
    return found


def cgroup_pids(controller_root: Path = Path("/sys/fs/cgroup/pids")) -> list[int]:
    """Processes still inside the kubelet's cgroups (``/kubepods``)."""
    pids: list[int] = []
    base = controller_root / "kubepods"
    if not base.exists():
        return pids
    for procs_file in base.rglob("cgroup.procs"):
        with contextlib.suppress(OSError, ValueError):
            pids += [int(p) for p in procs_file.read_text().split()]
    return pids


def kill_pids(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(procs.is_alive(p) for p in pids):
        time.sleep(0.1)


def own_mounts(layout: NodeLayout, include_netns: bool = True) -> list[str]:
    """Mount points under the node's folders (and CNI network namespaces), deepest first."""
    prefixes = [str(d.resolve()) + "/" for d in layout.owned_dirs()] + [str(d) + "/" for d in layout.owned_dirs()]
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if any(point.startswith(p) or point + "/" == p for p in prefixes) or (
            include_netns and point.startswith("/run/netns/cni-")
        ):
            points.append(point)
    return sorted(set(points), key=lambda p: p.count("/"), reverse=True)


def unmount_all(layout: NodeLayout) -> list[str]:
    problems = []
    for _ in range(3):
        points = own_mounts(layout)
        if not points:
            break
        for point in points:
            proc = run(["umount", point], check=False)
            if proc.returncode != 0:
                proc = run(["umount", "-l", point], check=False)
                if proc.returncode != 0:
                    problems.append(f"umount {point}: {proc.stderr.strip()}")
    for point in own_mounts(layout):
        if point.startswith("/run/netns/cni-"):
            with contextlib.suppress(OSError):
                Path(point).unlink()
    return problems


def bridge_links() -> list[str]:
    """The bridge and every interface enslaved to it."""
    proc = run(["ip", "-j", "link", "show"], check=False)
    try:
        links = json.loads(proc.stdout or "[]")
    except ValueError:
        return []
    return [link["ifname"] for link in links if link["ifname"] == BRIDGE or link.get("master") == BRIDGE]


def orphan_veths() -> list[str]:
    """veth interfaces in the host namespace without a bridge (Docker's all sit on docker0)."""
    proc = run(["ip", "-j", "-d", "link", "show", "type", "veth"], check=False)
    try:
        links = json.loads(proc.stdout or "[]")
    except ValueError:
        return []
    return [link["ifname"] for link in links if not link.get("master")]


def delete_links() -> list[str]:
    problems = []
    for name in [n for n in bridge_links() if n != BRIDGE] + ([BRIDGE] if BRIDGE in bridge_links() else []):
        proc = run(["ip", "link", "delete", name], check=False)
        if proc.returncode != 0 and "Cannot find device" not in proc.stderr:
            problems.append(f"ip link delete {name}: {proc.stderr.strip()}")
    return problems


IPTABLES_FAMILIES = ("iptables", "ip6tables", "iptables-legacy", "ip6tables-legacy")
IPTABLES_TABLES = ("filter", "nat", "mangle", "raw")


def own_iptables(binary: str) -> dict[str, list[str]]:
    """``{table: [lines]}`` of rules and chains named KUBE-*/CNI-* (or jumping to them) in one backend."""
    found: dict[str, list[str]] = {}
    if shutil.which(binary) is None:
        return found
    for table in IPTABLES_TABLES:
        proc = run([binary, "-w", "5", "-t", table, "-S"], check=False)
        lines = [
            line for line in proc.stdout.splitlines()
            if _mentions_own_chain(line)
        ]
        if lines:
            found[table] = lines
    return found


def _mentions_own_chain(line: str) -> bool:
    words = shlex.split(line)
    if len(words) >= 2 and words[0] in ("-N", "-A", "-P") and words[1].startswith(OWN_CHAIN_PREFIXES):
        return True
    return any(words[i] in ("-j", "-g") and words[i + 1].startswith(OWN_CHAIN_PREFIXES) for i in range(len(words) - 1))


def delete_iptables() -> list[str]:
    """Remove rules jumping to KUBE-*/CNI-* chains, then flush and delete those chains; others untouched."""
    problems = []
    for binary in IPTABLES_FAMILIES:
        for table, lines in own_iptables(binary).items():
            chains = []
            for line in lines:
                words = shlex.split(line)
                if words[0] == "-N":
                    chains.append(words[1])
                elif words[0] == "-A" and not words[1].startswith(OWN_CHAIN_PREFIXES):
                    proc = run([binary, "-w", "5", "-t", table, "-D", *words[1:]], check=False)
                    if proc.returncode != 0:
                        problems.append(f"{binary} -t {table} -D {shlex.join(words[1:])}: {proc.stderr.strip()}")
            for chain in chains:
                run([binary, "-w", "5", "-t", table, "-F", chain], check=False)
            for chain in chains:
                proc = run([binary, "-w", "5", "-t", table, "-X", chain], check=False)
                if proc.returncode != 0:
                    problems.append(f"{binary} -t {table} -X {chain}: {proc.stderr.strip()}")
    return problems


def own_cgroups(root: Path = Path("/sys/fs/cgroup")) -> list[Path]:
    if not root.exists():
        return []
    return [d / "kubepods" for d in root.iterdir() if (d / "kubepods").is_dir()]


def remove_cgroups() -> list[str]:
    problems = []
    for top in own_cgroups():
        for directory in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()
        try:
            top.rmdir()
        except OSError as error:
            problems.append(f"rmdir {top}: {error}")
    return problems


def down(ctx: Any) -> list[str]:
    """Remove pods, stop the node's processes by pid, unmount, delete links, iptables rules and cgroups.

    Idempotent; raises NodeError listing what could not be removed (after trying everything).
    """
    from testcluster import addons

    layout = NodeLayout(ctx.paths)
    problems: list[str] = []
    with contextlib.suppress(Exception):
        problems += addons.down(ctx, layout)
    # The kubelet goes first so that it does not restart what we remove.
    for name in ("kubelet",):
        with contextlib.suppress(procs.ProcessError):
            ctx.stop_process(name)
    problems += remove_pods(ctx, layout)
    for name in ("traefik", "metrics-server", "coredns", "kube-proxy"):
        try:
            ctx.stop_process(name)
        except procs.ProcessError as error:
            problems.append(str(error))
    kill_pids(shim_pids(layout) + cgroup_pids())
    try:
        ctx.stop_process("containerd")
    except procs.ProcessError as error:
        problems.append(str(error))
    kill_pids(shim_pids(layout))
    kube_proxy = ctx.paths.bin_dir / "kube-proxy"
    if kube_proxy.exists():
        # kube-proxy's own cleanup of its iptables (and nftables/ipvs) state.
        run([str(kube_proxy), "--cleanup", "--v=0"], check=False, timeout=60)
    problems += unmount_all(layout)
    problems += delete_links()
    problems += delete_iptables()
    problems += remove_cgroups()
    problems += restore_sysctls(layout)
    for directory in layout.owned_dirs():
        if directory.exists() and not own_mounts(layout, include_netns=False):
            shutil.rmtree(directory, ignore_errors=True)
    layout.state_file.unlink(missing_ok=True)
    left = leftovers(ctx.paths)
    if not left.clean:
        problems.append(f"left after down: {left.describe()}")
    if problems:
        raise NodeError("node down finished with problems:\n" + "\n".join(problems))
    return []


# ----------------------------------------------------------------------------------------------
# The checker


@dataclass
class Leftovers:
    """What of the node is still on the machine (empty lists mean nothing)."""

    processes: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    interfaces: list[str] = field(default_factory=list)
    iptables: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    directories: list[str] = field(default_factory=list)
    sysctls: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not any(asdict(self).values())

    def describe(self) -> str:
        return "; ".join(f"{k}: {', '.join(v)}" for k, v in asdict(self).items() if v) or "nothing"


def leftovers(paths: Paths | None = None, *, pids: dict[str, int] | None = None) -> Leftovers:
    """Check by pid, mount table, network interfaces, iptables and cgroups that nothing of the node is left.

    ``pids`` (name -> pid, e.g. cluster.json's ``pids`` taken while it ran) are checked too.
    """
    paths = paths or Paths.default()
    layout = NodeLayout(paths)
    found = Leftovers()
    for name in NODE_PROCESSES:
        recorded = procs.read_pidfile(paths.pidfile(name))
        if recorded is not None and recorded.alive():
            found.processes.append(f"{name} pid {recorded.pid}")
    for name, pid in (pids or {}).items():
        if procs.is_alive(pid) and _cmdline(pid):
            found.processes.append(f"{name} pid {pid} ({_cmdline(pid)[:60]})")
    found.processes += [f"containerd-shim pid {pid}" for pid in shim_pids(layout)]
    found.processes += [f"pod process pid {pid}" for pid in cgroup_pids()]
    found.mounts = own_mounts(layout)
    found.interfaces = bridge_links() + orphan_veths()
    for binary in IPTABLES_FAMILIES:
        for table, lines in own_iptables(binary).items():
            found.iptables += [f"{binary} -t {table} {line}" for line in lines]
    found.cgroups = [str(p) for p in own_cgroups()]
    found.directories = [str(d) for d in layout.owned_dirs() if d.exists()]
    found.sysctls = [f"{name}={now} (was {before})" for name, (before, now) in changed_sysctls(layout).items()]
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


# ----------------------------------------------------------------------------------------------
# Figures


def memory_report(paths: Paths | None = None) -> dict[str, float]:
    """Resident memory (MiB) of the whole test bed: every recorded process, the shims, and the pods' cgroups."""
    paths = paths or Paths.default()
    layout = NodeLayout(paths)
    report: dict[str, float] = {}
    for pidfile in sorted(paths.run_dir.glob("*.pid")) if paths.run_dir.exists() else []:
        recorded = procs.read_pidfile(pidfile)
        if recorded is not None and recorded.alive():
            report[recorded.name] = round(procs.rss_kib(recorded.pid) / 1024, 1)
    report["containerd-shims"] = round(sum(procs.rss_kib(pid) for pid in shim_pids(layout)) / 1024, 1)
    stat = Path("/sys/fs/cgroup/memory/kubepods/memory.stat")
    if stat.exists():
        values = dict(line.split() for line in stat.read_text().splitlines())
        report["pods (cgroup total_rss)"] = round(int(values.get("total_rss", 0)) / 2**20, 1)
    report["total"] = round(sum(report.values()), 1)
    return report

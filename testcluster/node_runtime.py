"""What runs on the real node: containerd, the pause image, the kubelet, CNI (bridge) and kube-proxy.

- containerd (Debian's) with its own config, socket ``/run/todo-testbed/containerd.sock``, state
  ``/run/todo-testbed/containerd`` and root ``$CACHE/testcluster/data/node/containerd``; CRI enabled,
  runc with cgroupfs (``SystemdCgroup = false``), sandbox image ``todo-runbook/pause:3.10`` built here.
- CNI (Debian's plugins): bridge ``todotb0`` + host-local IPAM on the node's ``spec.podCIDR`` (allocated by
  the controller manager from 10.244.0.0/16) + portmap; the bridge's gateway address is the node's
  "service address": CoreDNS and metrics-server listen there, so pods and the API server reach them.
- kubelet v1.34 (cgroupfs, swap allowed, cgroup v1 allowed) as node ``todo-testbed-node`` with a
  client certificate from the cluster CA and a CA-signed serving certificate; kube-proxy in iptables mode.

:mod:`testcluster.node` calls these in order; :mod:`testcluster.node_cleanup` undoes them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shlex
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from testcluster import images, procs
from testcluster.build import find_go, go_env
from testcluster.context import ClusterContext
from testcluster.errors import TestbedError
from testcluster.node_layout import (
    KUBE_PROXY_HEALTHZ_PORT,
    KUBE_PROXY_METRICS_PORT,
    NODE_NAME,
    PAUSE_IMAGE,
    PAUSE_REFERENCE,
    NodeLayout,
)
from testcluster.paths import REPO_ROOT, Paths
from testcluster.pki import CertPair

DEBIAN_PACKAGES = (
    "containerd", "runc", "containernetworking-plugins", "iptables", "conntrack", "socat", "ethtool",
    "iproute2", "util-linux", "mount", "kmod",
)
CNI_BIN_DIR = Path("/usr/lib/cni")


class NodeError(TestbedError):
    """The node could not be brought up or down; the message says what failed and what to do."""


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
    return f"""# Written by testcluster/node_runtime.py: the test bed node's own containerd (not Docker's).
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

  # Registry host configuration (hosts.toml per registry, e.g. the test bed registry's CA): read on each pull.
  [{cri}.registry]
    config_path = "{layout.registry_hosts_dir}"

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


def start_containerd(ctx: ClusterContext, layout: NodeLayout) -> None:
    for directory in (layout.containerd_root, layout.containerd_state, layout.cni_conf_dir, layout.cni_ipam_dir):
        directory.mkdir(parents=True, exist_ok=True)
    layout.registry_hosts_dir.mkdir(parents=True, exist_ok=True)
    name = layout.process("containerd")
    running = ctx.process(name)
    if write_if_changed(layout.containerd_config, containerd_config(layout)) and running and running.alive():
        # containerd reads its config only at start; the pods' shims outlive the restart.
        ctx.stop_process(name)
    recorded = ctx.start_process(name, ["containerd", "--config", str(layout.containerd_config),
                                                "--log-level", "warn"])
    procs.wait_until(lambda: containerd_ready(layout), what="containerd to answer on its socket", timeout=60,
                     watch=recorded)


def import_pause(ctx: ClusterContext, layout: NodeLayout) -> float | None:
    if PAUSE_REFERENCE in images.list_images(str(layout.containerd_socket)):
        return None
    result = images.load_image(PAUSE_IMAGE, address=str(layout.containerd_socket))
    # Pinned: the kubelet's image garbage collector must never remove the sandbox image.
    ctr(layout, "images", "label", PAUSE_REFERENCE, "io.cri-containerd.pinned=pinned", check=False)
    return result.seconds


# ----------------------------------------------------------------------------------------------
# kubelet


def kubelet_config(ctx: ClusterContext, layout: NodeLayout, node_ip: str, serving: CertPair) -> dict[str, Any]:
    net = ctx.network
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node_ip,
        "port": layout.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": layout.kubelet_healthz_port,
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
        **({} if layout.first else {"cgroupRoot": layout.cgroup_parent, "podLogsDir": str(layout.pod_logs_dir)}),
    }


def ensure_cgroup_parent(layout: NodeLayout, root: Path = Path("/sys/fs/cgroup")) -> None:
    """The kubelet refuses a cgroupRoot that does not exist: create it in every hierarchy (cgroup v1 here)."""
    if layout.first:
        return
    for hierarchy in root.iterdir() if root.exists() else []:
        if hierarchy.is_dir() and (hierarchy / "cgroup.procs").exists():
            parent = hierarchy / layout.cgroup_parent.strip("/")
            parent.mkdir(exist_ok=True)
            for name in ("cpuset.cpus", "cpuset.mems"):  # a new v1 cpuset admits no process until these are set
                if (parent / name).exists() and not (parent / name).read_text().strip():
                    (parent / name).write_text((hierarchy / name).read_text())


def start_kubelet(ctx: ClusterContext, layout: NodeLayout, node_ip: str) -> procs.Recorded:
    name = layout.node_name
    kubeconfig = ctx.write_kubeconfig(layout.process("kubelet"), f"system:node:{name}", ["system:nodes"])
    serving = ctx.issue_serving_cert(layout.process("kubelet-serving"), f"system:node:{name}",
                                     [name, node_ip, "127.0.0.1", "localhost"])
    layout.kubelet_root.mkdir(parents=True, exist_ok=True)
    ensure_cgroup_parent(layout)
    if layout.pod_logs_dir:
        layout.pod_logs_dir.mkdir(parents=True, exist_ok=True)
    write_if_changed(layout.kubelet_config, yaml.safe_dump(kubelet_config(ctx, layout, node_ip, serving),
                                                           sort_keys=False))
    argv = [
        str(ctx.binary("kubelet")),
        f"--config={layout.kubelet_config}",
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={name}",
        f"--node-ip={node_ip}",
        f"--root-dir={layout.kubelet_root}",
        f"--cert-dir={layout.root / 'kubelet-pki'}",
        "--node-labels=testbed.todo-runbook.io/real=true",  # kubelets may not set node-role.kubernetes.io/*
        "--v=1",
    ]
    return ctx.start_process(layout.process("kubelet"), argv)


def core_api(ctx: ClusterContext) -> Any:
    from kubernetes import client

    return client.CoreV1Api(ctx.api_client())


def node_object(ctx: ClusterContext, name: str = NODE_NAME) -> Any | None:
    from kubernetes.client.rest import ApiException

    try:
        return core_api(ctx).read_node(name)
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
        "name": layout.cni_network,
        "plugins": [
            {
                "type": "bridge",
                "bridge": layout.bridge,
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


def ensure_bridge(bridge: str, gateway: str, prefix: int) -> None:
    """Create the bridge with the gateway address before any pod exists, so host add-ons can bind to it."""
    if run(["ip", "link", "show", bridge], check=False).returncode != 0:
        run(["ip", "link", "add", bridge, "type", "bridge"])
    addresses = run(["ip", "-4", "-o", "addr", "show", "dev", bridge]).stdout
    if f" {gateway}/" not in addresses:
        run(["ip", "addr", "add", f"{gateway}/{prefix}", "dev", bridge])
    run(["ip", "link", "set", bridge, "up"])


def configure_cni(layout: NodeLayout, pod_cidr: str) -> str:
    network = ipaddress.ip_network(pod_cidr)
    gateway = str(network.network_address + 1)
    ensure_bridge(layout.bridge, gateway, network.prefixlen)
    write_if_changed(layout.cni_conf_dir / "10-todo-testbed.conflist",
                     json.dumps(cni_conflist(layout, pod_cidr, gateway), indent=2) + "\n")
    return gateway


# ----------------------------------------------------------------------------------------------
# kube-proxy


def kube_proxy_config(ctx: ClusterContext, kubeconfig: Path) -> dict[str, Any]:
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


def start_kube_proxy(ctx: ClusterContext, layout: NodeLayout) -> procs.Recorded:
    kubeconfig = ctx.write_kubeconfig("kube-proxy", "system:kube-proxy")
    write_if_changed(layout.kube_proxy_config, yaml.safe_dump(kube_proxy_config(ctx, kubeconfig), sort_keys=False))
    return ctx.start_process("kube-proxy", [str(ctx.binary("kube-proxy")), f"--config={layout.kube_proxy_config}",
                                            "--v=1"])


def kube_proxy_healthy() -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{KUBE_PROXY_HEALTHZ_PORT}/healthz", timeout=2) as response:
        return response.status == 200

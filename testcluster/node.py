"""One real worker node on the host: containerd + CNI (bridge) + kubelet + kube-proxy, plus the add-ons.

``up(ctx)`` is called by ``testcluster.controlplane.up`` with a ``ClusterContext``; ``down(ctx)`` by
``controlplane.down`` before the control plane stops. Both are idempotent. The parts, one concern each:

- :mod:`testcluster.node_layout`: the node's names, ports and paths (``NodeLayout``) and what ``up``
  records in run/node.json (``NodeState``);
- :mod:`testcluster.node_runtime`: containerd, the pause image, the kubelet, CNI and kube-proxy;
- :mod:`testcluster.addons`: CoreDNS, metrics-server, Traefik and storage;
- :mod:`testcluster.node_cleanup`: taking it all down, and :func:`leftovers`, the checker that proves
  nothing is left.
"""

from __future__ import annotations

import contextlib
import io
import socket
import time
from pathlib import Path

from testcluster import addons, procs
from testcluster.context import ClusterContext
from testcluster.node_cleanup import bridge_links, remove_node, shim_pids
from testcluster.node_layout import BRIDGE, KUBELET_PORT, NODE_NAME, NodeLayout, NodeState
from testcluster.node_runtime import (
    NodeError,
    configure_cni,
    cpu_mem_check,
    ensure_debian_packages,
    ensure_pause_image,
    import_pause,
    kube_proxy_healthy,
    node_object,
    node_ready,
    not_ready_taint_lifted,
    save_sysctls,
    set_sysctl,
    start_containerd,
    start_kube_proxy,
    start_kubelet,
)
from testcluster.paths import Paths

# ----------------------------------------------------------------------------------------------
# up


def required_binaries(ctx: ClusterContext) -> None:
    for name in ("kubelet", "kube-proxy", "crictl", "coredns", "metrics-server", "traefik"):
        ctx.binary(name)  # raises with `python -m testcluster build` in the message


def up(ctx: ClusterContext) -> NodeState:
    """Bring the node (and its add-ons) up; idempotent. Returns what it learnt (also in run/node.json)."""
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


def ensure_single_node(ctx: ClusterContext, node_ip: str) -> None:
    """One real node per machine: the kubelet port, the bridge and /kubepods cannot be shared."""
    recorded = ctx.process("kubelet")
    if recorded is not None and recorded.alive():
        return
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


def down(ctx: ClusterContext) -> list[str]:
    """Stop the add-ons, then remove the node (:func:`testcluster.node_cleanup.remove_node`).

    Idempotent; raises NodeError listing what could not be removed (after trying everything).
    """
    layout = NodeLayout(ctx.paths)
    problems: list[str] = []
    with contextlib.suppress(Exception):
        problems += addons.down(ctx, layout)
    problems += remove_node(ctx, layout)
    if problems:
        raise NodeError("node down finished with problems:\n" + "\n".join(problems))
    return []


def reclaim_volumes(paths: Paths | None = None) -> list[str]:
    """On a running test bed, the Released volumes wiped and made Available again, as its `up` does: what a
    dynamic provisioner's deleter does on minikube or kind, so that repeated releases never run out of them."""
    paths = paths or Paths.default()
    return addons.reclaim_volumes(ClusterContext.load(paths, out=io.StringIO()), NodeLayout(paths))


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

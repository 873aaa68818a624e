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
from testcluster.node_cleanup import all_layouts, bridge_links, remove_node, remove_worker, shim_pids
from testcluster.node_layout import BRIDGE, KUBELET_PORT, MAX_REAL_NODES, NodeLayout, NodeState
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
    """Bring node 1 (and its add-ons) up, then the second node when ``ctx.real_nodes`` is 2 (or take it away
    when it is 1); idempotent. Returns what node 1 learnt (also in run/node.json)."""
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

    node_ip = ctx.network.advertise_address
    if node_ip.startswith("127."):
        raise NodeError("the real node needs a non-loopback host address for the kubelet and the `kubernetes` "
                        "Service; the control plane advertises 127.0.0.1 (start it with the node enabled).")
    ensure_single_node(ctx, node_ip)
    join(ctx, layout, state, node_ip)
    ctx.record(containerd_address=state.containerd_address)

    proxy = start_kube_proxy(ctx, layout)
    procs.wait_until(kube_proxy_healthy, what="kube-proxy /healthz", timeout=60, watch=proxy)
    state.save(layout)

    state.addons = addons.up(ctx, layout, state)
    state.save(layout)
    workers = converge_workers(ctx, node_ip)
    ctx.record(node=_summary(state), workers=[_summary(w) for w in workers],
               containerd_addresses=[state.containerd_address, *(w.containerd_address for w in workers)])
    ctx.log(f"node: ready with add-ons in {time.monotonic() - t0:.1f}s ({1 + len(workers)} real node(s))")
    return state


def join(ctx: ClusterContext, layout: NodeLayout, state: NodeState, node_ip: str) -> None:
    """containerd, the pause image, the kubelet, registration, CNI on the allocated pod CIDR, Ready."""
    name = layout.node_name
    t = time.monotonic()
    start_containerd(ctx, layout)
    state.node_name, state.index = name, layout.index
    state.containerd_address = str(layout.containerd_socket)
    pause_seconds = import_pause(ctx, layout)
    if pause_seconds is not None:
        state.pause_load_seconds = round(pause_seconds, 2)
    ctx.log(f"node: {name}: containerd on {layout.containerd_socket} ({time.monotonic() - t:.1f}s)")

    state.node_ip = node_ip
    join_start = time.monotonic()
    save_sysctls(NodeLayout(ctx.paths))  # the host's values before any kubelet changed them
    kubelet = start_kubelet(ctx, layout, node_ip)

    def registered_with_cidr() -> bool:
        node = node_object(ctx, name)
        return node is not None and bool(node.spec.pod_cidr)

    procs.wait_until(registered_with_cidr, what=f"node {name} to register and get a pod CIDR", timeout=120,
                     interval=0.5, watch=kubelet)
    state.pod_cidr = node_object(ctx, name).spec.pod_cidr
    state.gateway_ip = configure_cni(layout, state.pod_cidr)
    # Ready alone is not enough: pods cannot land until the node controller lifts the not-ready taint.
    procs.wait_until(lambda: node_ready(node_object(ctx, name)) and not_ready_taint_lifted(node_object(ctx, name)),
                     what=f"node {name} Ready and schedulable", timeout=120, interval=0.5, watch=kubelet)
    if state.join_seconds is None:
        state.join_seconds = round(time.monotonic() - join_start, 2)
    ctx.log(f"node: {name} Ready in {time.monotonic() - join_start:.1f}s (pod CIDR {state.pod_cidr}, "
            f"gateway {state.gateway_ip}, kubelet pid {kubelet.pid})")


def converge_workers(ctx: ClusterContext, node_ip: str) -> list[NodeState]:
    """Start the second node when asked for (``up --real-nodes 2``), remove it when not."""
    if not 1 <= ctx.real_nodes <= MAX_REAL_NODES:
        raise NodeError(f"--real-nodes must be 1 to {MAX_REAL_NODES}, got {ctx.real_nodes}")
    workers = []
    for index in range(2, MAX_REAL_NODES + 1):
        layout = NodeLayout(ctx.paths, index)
        if index > ctx.real_nodes:
            if layout.state_file.exists() or ctx.process(layout.process("kubelet")) is not None:
                problems = remove_worker(ctx, layout)
                ctx.log(f"node: {layout.node_name} removed" + (f" ({'; '.join(problems)})" if problems else ""))
            continue
        state = NodeState.load(layout)
        ensure_port_free(ctx, layout, node_ip)
        join(ctx, layout, state, node_ip)
        state.save(layout)
        workers.append(state)
    return workers


def _summary(state: NodeState) -> dict[str, object]:
    return {"name": state.node_name, "ip": state.node_ip, "pod_cidr": state.pod_cidr, "gateway": state.gateway_ip,
            "join_seconds": state.join_seconds, "containerd_address": state.containerd_address}


def _kubelet_port_taken(ctx: ClusterContext, layout: NodeLayout, node_ip: str) -> bool:
    """True when something other than our own running kubelet answers on this node's kubelet port."""
    recorded = ctx.process(layout.process("kubelet"))
    if recorded is not None and recorded.alive():
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex((node_ip, layout.kubelet_port)) == 0


def ensure_port_free(ctx: ClusterContext, layout: NodeLayout, node_ip: str) -> None:
    if _kubelet_port_taken(ctx, layout, node_ip):
        raise NodeError(f"{node_ip}:{layout.kubelet_port}, the port of {layout.node_name}'s kubelet, is taken "
                        "by another process (`ss -ltnp` names it): stop it, or run with `--real-nodes 1`.")


def ensure_single_node(ctx: ClusterContext, node_ip: str) -> None:
    """One test bed's real nodes per machine: the kubelet port, the bridge and /kubepods cannot be shared."""
    layout = NodeLayout(ctx.paths)
    recorded = ctx.process(layout.process("kubelet"))
    if recorded is not None and recorded.alive():
        return
    if _kubelet_port_taken(ctx, layout, node_ip) or BRIDGE in bridge_links((BRIDGE,)):
        raise NodeError(
            f"another real node already runs on this machine ({node_ip}:{KUBELET_PORT} answers or bridge {BRIDGE} "
            "exists), probably a test bed with another cache folder. Only one real node fits on a machine: take "
            "that one down (`TODO_RUNBOOK_CACHE=<its cache> python -m testcluster down`), then run `up` again."
        )


# ----------------------------------------------------------------------------------------------
# down


def down(ctx: ClusterContext) -> list[str]:
    """Stop the add-ons, then remove the node (:func:`testcluster.node_cleanup.remove_node`).

    Idempotent; raises NodeError listing what could not be removed (after trying everything).
    """
    layout = NodeLayout(ctx.paths)
    problems: list[str] = []
    for worker in reversed(all_layouts(ctx.paths)[1:]):
        problems += remove_worker(ctx, worker)
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
    report: dict[str, float] = {}
    for pidfile in sorted(paths.run_dir.glob("*.pid")) if paths.run_dir.exists() else []:
        recorded = procs.read_pidfile(pidfile)
        if recorded is not None and recorded.alive():
            report[recorded.name] = round(procs.rss_kib(recorded.pid) / 1024, 1)
    for layout in all_layouts(paths):
        suffix = "" if layout.first else f" ({layout.node_name})"
        shims = shim_pids(layout)
        if layout.first or shims:
            report["containerd-shims" + suffix] = round(sum(procs.rss_kib(pid) for pid in shims) / 1024, 1)
        stat = Path("/sys/fs/cgroup/memory") / layout.kubepods_cgroup / "memory.stat"
        if stat.exists():
            values = dict(line.split() for line in stat.read_text().splitlines())
            report["pods (cgroup total_rss)" + suffix] = round(int(values.get("total_rss", 0)) / 2**20, 1)
    report["total"] = round(sum(report.values()), 1)
    return report

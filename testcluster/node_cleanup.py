"""Taking the real node down, and the checker that proves nothing of it is left.

:func:`remove_node` stops pod sandboxes through CRI (so CNI removes veths, IPAM entries and its
iptables chains), stops every process by pid, kills leftover shims of *our* socket, unmounts whatever
is left under our folders, deletes the bridge, runs ``kube-proxy --cleanup`` and removes any remaining
``KUBE-*``/``CNI-*`` iptables chains (Docker's rules are left alone), removes the node's cgroups and
restores the host sysctls the kubelet changed. :func:`leftovers` checks that nothing is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from testcluster import procs
from testcluster.context import ClusterContext
from testcluster.node_layout import ALL_BRIDGES, MAX_REAL_NODES, NODE_PROCESSES, WORKER_PROCESSES, NodeLayout
from testcluster.node_runtime import changed_sysctls, containerd_ready, ctr, restore_sysctls, run
from testcluster.paths import Paths

OWN_CHAIN_PREFIXES = ("KUBE-", "CNI-")


def _crictl(ctx: ClusterContext, layout: NodeLayout, *args: str,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    try:
        crictl = str(ctx.binary("crictl"))
    except Exception:
        crictl = shutil.which("crictl") or "crictl"
    endpoint = f"unix://{layout.containerd_socket}"
    return run([crictl, "--runtime-endpoint", endpoint, "--image-endpoint", endpoint, "--timeout", "60s", *args],
               check=False, timeout=timeout)


def remove_pods(ctx: ClusterContext, layout: NodeLayout) -> list[str]:
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


def all_layouts(paths: Paths) -> list[NodeLayout]:
    """Every real node this test bed may have started: node 1 and the optional second one."""
    return [NodeLayout(paths, index) for index in range(1, MAX_REAL_NODES + 1)]


def cgroup_pids(layout: NodeLayout, controller_root: Path = Path("/sys/fs/cgroup/pids")) -> list[int]:
    """Processes still inside one kubelet's pod cgroups (``/kubepods``, or its own parent's)."""
    pids: list[int] = []
    base = controller_root / layout.kubepods_cgroup
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
    # Pod network namespaces (/run/netns/cni-*) cannot be told apart by node: only node 1's down, which takes
    # every node with it, removes those CRI left behind; the second node's go with its pods.
    include_netns = layout.first
    problems = []
    for _ in range(3):
        points = own_mounts(layout, include_netns=include_netns)
        if not points:
            break
        for point in points:
            proc = run(["umount", point], check=False)
            if proc.returncode != 0:
                proc = run(["umount", "-l", point], check=False)
                if proc.returncode != 0:
                    problems.append(f"umount {point}: {proc.stderr.strip()}")
    for point in own_mounts(layout, include_netns=include_netns):
        if point.startswith("/run/netns/cni-"):
            with contextlib.suppress(OSError):
                Path(point).unlink()
    return problems


def bridge_links(bridges: tuple[str, ...] = ALL_BRIDGES) -> list[str]:
    """The nodes' bridges (default: every node's) and every interface enslaved to them."""
    proc = run(["ip", "-j", "link", "show"], check=False)
    try:
        links = json.loads(proc.stdout or "[]")
    except ValueError:
        return []
    return [link["ifname"] for link in links if link["ifname"] in bridges or link.get("master") in bridges]


def orphan_veths() -> list[str]:
    """veth interfaces in the host namespace without a bridge (Docker's all sit on docker0)."""
    proc = run(["ip", "-j", "-d", "link", "show", "type", "veth"], check=False)
    try:
        links = json.loads(proc.stdout or "[]")
    except ValueError:
        return []
    return [link["ifname"] for link in links if not link.get("master")]


def delete_links(bridges: tuple[str, ...] = ALL_BRIDGES) -> list[str]:
    problems = []
    links = bridge_links(bridges)
    for name in [n for n in links if n not in bridges] + [n for n in links if n in bridges]:
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


def own_cgroups(layouts: list[NodeLayout] | None = None, root: Path = Path("/sys/fs/cgroup")) -> list[Path]:
    """The nodes' top cgroups in every hierarchy: ``/kubepods`` for node 1, its own parent for node 2."""
    if not root.exists():
        return []
    tops = ["kubepods" if layout.first else layout.cgroup_parent.strip("/") for layout in layouts or []]
    return [d / top for d in root.iterdir() for top in tops if (d / top).is_dir()]


def remove_cgroups(layouts: list[NodeLayout]) -> list[str]:
    problems = []
    for top in own_cgroups(layouts):
        for directory in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()
        try:
            top.rmdir()
        except OSError as error:
            problems.append(f"rmdir {top}: {error}")
    return problems


def _stop_kubelet_and_pods(ctx: ClusterContext, layout: NodeLayout) -> list[str]:
    # The kubelet goes first so that it does not restart what we remove.
    with contextlib.suppress(procs.ProcessError):
        ctx.stop_process(layout.process("kubelet"))
    return remove_pods(ctx, layout)


def _stop_containerd(ctx: ClusterContext, layout: NodeLayout) -> list[str]:
    problems: list[str] = []
    kill_pids(shim_pids(layout) + cgroup_pids(layout))
    try:
        ctx.stop_process(layout.process("containerd"))
    except procs.ProcessError as error:
        problems.append(str(error))
    kill_pids(shim_pids(layout))
    return problems


def _remove_folders(layout: NodeLayout) -> None:
    for directory in layout.owned_dirs():
        if directory.exists() and not own_mounts(layout, include_netns=False):
            shutil.rmtree(directory, ignore_errors=True)
    layout.state_file.unlink(missing_ok=True)


def remove_worker(ctx: ClusterContext, layout: NodeLayout) -> list[str]:
    """Take the second node away: its pods, kubelet, containerd, bridge, cgroups, folders and Node object.

    Node 1, its kube-proxy and the add-ons keep running. Idempotent; returns what could not be removed.
    """
    problems = _stop_kubelet_and_pods(ctx, layout)
    problems += _stop_containerd(ctx, layout)
    problems += unmount_all(layout)
    problems += delete_links((layout.bridge,))
    problems += remove_cgroups([layout])
    _remove_folders(layout)
    with contextlib.suppress(Exception):  # the API server may already be gone (a whole `down`)
        from kubernetes import client

        client.CoreV1Api(ctx.api_client()).delete_node(layout.node_name)
    return problems


def remove_node(ctx: ClusterContext, layout: NodeLayout) -> list[str]:
    """Remove pods, stop the node's processes by pid, unmount, delete links, iptables rules and cgroups.

    Idempotent; tries everything, then returns what could not be removed (with what :func:`leftovers` finds).
    """
    problems = _stop_kubelet_and_pods(ctx, layout)
    for name in ("traefik", "metrics-server", "coredns", "kube-proxy"):
        try:
            ctx.stop_process(name)
        except procs.ProcessError as error:
            problems.append(str(error))
    problems += _stop_containerd(ctx, layout)
    kube_proxy = ctx.paths.bin_dir / "kube-proxy"
    if kube_proxy.exists():
        # kube-proxy's own cleanup of its iptables (and nftables/ipvs) state.
        run([str(kube_proxy), "--cleanup", "--v=0"], check=False, timeout=60)
    problems += unmount_all(layout)
    problems += delete_links()
    problems += delete_iptables()
    problems += remove_cgroups([layout])
    problems += restore_sysctls(layout)
    _remove_folders(layout)
    left = leftovers(ctx.paths)
    if not left.clean:
        problems.append(f"left after down: {left.describe()}")
    return problems


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
    layouts = all_layouts(paths)
    layout = layouts[0]
    found = Leftovers()
    names = [*NODE_PROCESSES, *(n.process(name) for n in layouts[1:] for name in WORKER_PROCESSES)]
    for name in names:
        recorded = procs.read_pidfile(paths.pidfile(name))
        if recorded is not None and recorded.alive():
            found.processes.append(f"{name} pid {recorded.pid}")
    for name, pid in (pids or {}).items():
        if procs.is_alive(pid) and _cmdline(pid):
            found.processes.append(f"{name} pid {pid} ({_cmdline(pid)[:60]})")
    for node in layouts:
        found.processes += [f"containerd-shim pid {pid}" for pid in shim_pids(node)]
        found.processes += [f"pod process pid {pid}" for pid in cgroup_pids(node)]
        found.mounts += own_mounts(node, include_netns=node.first)
        found.directories += [str(d) for d in node.owned_dirs() if d.exists()]
    found.interfaces = bridge_links() + orphan_veths()
    for binary in IPTABLES_FAMILIES:
        for table, lines in own_iptables(binary).items():
            found.iptables += [f"{binary} -t {table} {line}" for line in lines]
    found.cgroups = [str(p) for p in own_cgroups(layouts)]
    found.sysctls = [f"{name}={now} (was {before})" for name, (before, now) in changed_sysctls(layout).items()]
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""

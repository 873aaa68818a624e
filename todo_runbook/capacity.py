"""Capacity before deploy: what the chosen values will request at peak against what the nodes have free.

Demand comes from the chart rendered with the run's values (`helm template`), so every profile, values
file and replica override counts: replicas x pod requests, plus each Deployment's rolling-update surge,
plus the in-cluster PostgreSQL and the migration hook. Supply is the schedulable nodes' allocatable
CPU and memory minus what running pods already request (the release's own pods excluded: an upgrade
replaces them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from . import providers, shell
from .config import RunbookConfig
from .deploy import release_args
from .errors import RunbookError
from .kube import Kube
from .stats import parse_cpu, parse_memory

WORKLOADS = ("Deployment", "StatefulSet", "Job")
GIB = 2**30


class CapacityError(RunbookError):
    kind = "not enough capacity"


@dataclass
class WorkloadDemand:
    kind: str
    name: str
    replicas: int
    surge: int
    cpu_m: int  # per pod
    mem_bytes: int

    def line(self) -> str:
        extra = f" + {self.surge} surge" if self.surge else ""
        return f"{self.kind.lower()}/{self.name}: {self.replicas}{extra} x {self.cpu_m}m/{_mib(self.mem_bytes)}"


@dataclass
class Demand:
    workloads: list[WorkloadDemand] = field(default_factory=list)

    @property
    def steady_cpu_m(self) -> int:
        return sum(w.replicas * w.cpu_m for w in self.workloads if w.kind != "Job")

    @property
    def steady_mem_bytes(self) -> int:
        return sum(w.replicas * w.mem_bytes for w in self.workloads if w.kind != "Job")

    def _transient(self, attr: str) -> int:
        # helm rolls every Deployment at once (all surges together); a hook Job runs before that, alone
        surges = sum(w.surge * getattr(w, attr) for w in self.workloads)
        jobs = max((getattr(w, attr) for w in self.workloads if w.kind == "Job"), default=0)
        return int(max(surges, jobs))

    @property
    def peak_cpu_m(self) -> int:
        return self.steady_cpu_m + self._transient("cpu_m")

    @property
    def peak_mem_bytes(self) -> int:
        return self.steady_mem_bytes + self._transient("mem_bytes")

    @property
    def largest_pod(self) -> tuple[int, int]:
        return (max((w.cpu_m for w in self.workloads), default=0),
                max((w.mem_bytes for w in self.workloads), default=0))

    def breakdown(self) -> str:
        return "; ".join(w.line() for w in self.workloads)


@dataclass
class NodeRoom:
    name: str
    allocatable_cpu_m: int
    allocatable_mem_bytes: int
    requested_cpu_m: int
    requested_mem_bytes: int

    @property
    def free_cpu_m(self) -> int:
        return self.allocatable_cpu_m - self.requested_cpu_m

    @property
    def free_mem_bytes(self) -> int:
        return self.allocatable_mem_bytes - self.requested_mem_bytes


@dataclass
class CapacityCheck:
    demand: Demand
    nodes: list[NodeRoom]
    fits: bool
    problem: str = ""
    remedy: str = ""

    @property
    def free_cpu_m(self) -> int:
        return sum(n.free_cpu_m for n in self.nodes)

    @property
    def free_mem_bytes(self) -> int:
        return sum(n.free_mem_bytes for n in self.nodes)


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f}Mi"


def _millicores(value: Any) -> int:
    cores = parse_cpu(value)
    return round(cores * 1000) if cores else 0


def _bytes(value: Any) -> int:
    return int(parse_memory(value) or 0)


def pod_requests(pod_spec: Mapping[str, Any]) -> tuple[int, int]:
    """The scheduler's view: containers summed, init containers at their largest, whichever is more."""
    def req(c: Mapping[str, Any], key: str) -> Any:
        return ((c.get("resources") or {}).get("requests") or {}).get(key)

    containers = pod_spec.get("containers") or []
    inits = pod_spec.get("initContainers") or []
    cpu = max(sum(_millicores(req(c, "cpu")) for c in containers),
              max((_millicores(req(c, "cpu")) for c in inits), default=0))
    mem = max(sum(_bytes(req(c, "memory")) for c in containers),
              max((_bytes(req(c, "memory")) for c in inits), default=0))
    return cpu, mem


def _surge(spec: Mapping[str, Any], replicas: int) -> int:
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0
    raw = (strategy.get("rollingUpdate") or {}).get("maxSurge", "25%")
    if isinstance(raw, str) and raw.endswith("%"):
        return math.ceil(replicas * int(raw[:-1]) / 100)
    return int(raw)


def demand_from_manifests(docs: Iterable[Mapping[str, Any] | None]) -> Demand:
    demand = Demand()
    for doc in docs:
        if not doc or doc.get("kind") not in WORKLOADS:
            continue
        spec = doc.get("spec") or {}
        pod = (spec.get("template") or {}).get("spec") or {}
        cpu, mem = pod_requests(pod)
        kind = str(doc["kind"])
        replicas = int(spec.get("replicas", 1)) if kind != "Job" else int(spec.get("parallelism", 1))
        surge = _surge(spec, replicas) if kind == "Deployment" else 0
        demand.workloads.append(WorkloadDemand(kind, str((doc.get("metadata") or {}).get("name", "?")),
                                               replicas, surge, cpu, mem))
    return demand


def demand_for(config: RunbookConfig, images: Mapping[str, str] | None = None) -> Demand:
    """Render the chart as the deploy step will install it and add up its requests."""
    argv = ["helm", "template", config.release, str(config.path(config.chart)), "-n", config.namespace,
            *release_args(config, images or {})]
    # Unmasked: the rendered Secret's values are parsed here, never recorded; masking would break the YAML.
    rendered = shell.run(argv, timeout=120, hint="the chart must render before it can be deployed",
                         mask_output=False).stdout
    try:
        return demand_from_manifests(yaml.safe_load_all(rendered))
    except yaml.YAMLError as exc:
        raise RunbookError(f"`helm template` of {config.chart} gave YAML that does not parse: {str(exc)[:300]}",
                           "run the same `helm template` by hand and check the chart's templates") from exc


def peak_need(config: RunbookConfig) -> tuple[int, int]:
    """(CPU millicores, memory bytes) at peak: what a provider sizes a new cluster for."""
    demand = demand_for(config)
    return demand.peak_cpu_m, demand.peak_mem_bytes


def _schedulable(node: Mapping[str, Any]) -> bool:
    spec = node.get("spec") or {}
    if spec.get("unschedulable"):
        return False
    return not any(t.get("effect") in ("NoSchedule", "NoExecute") for t in spec.get("taints") or [])


def supply_of(target: providers.ClusterTarget, config: RunbookConfig) -> list[NodeRoom]:
    kube = Kube(providers.api_client(target))
    try:
        nodes = [n for n in kube.plain(kube.core.list_node(_request_timeout=30)).get("items", []) if _schedulable(n)]
        pods = kube.plain(kube.core.list_pod_for_all_namespaces(
            field_selector="status.phase!=Succeeded,status.phase!=Failed", _request_timeout=30)).get("items", [])
    finally:
        kube.close()
    rooms = []
    for node in nodes:
        alloc = (node.get("status") or {}).get("allocatable") or {}
        room = NodeRoom(str(node["metadata"]["name"]), _millicores(alloc.get("cpu")), _bytes(alloc.get("memory")), 0, 0)
        for pod in pods:
            meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
            ours = meta.get("namespace") == config.namespace and \
                (meta.get("labels") or {}).get("app.kubernetes.io/instance") == config.release
            if spec.get("nodeName") != room.name or ours:
                continue
            cpu, mem = pod_requests(spec)
            room.requested_cpu_m += cpu
            room.requested_mem_bytes += mem
        rooms.append(room)
    return rooms


def evaluate(demand: Demand, nodes: list[NodeRoom], grow_hint: str) -> CapacityCheck:
    check = CapacityCheck(demand, nodes, fits=True)
    free_cpu, free_mem = check.free_cpu_m, check.free_mem_bytes
    pod_cpu, pod_mem = demand.largest_pod
    short = []
    if not nodes:
        short.append("no schedulable node (all cordoned or tainted NoSchedule)")
    if demand.peak_cpu_m > free_cpu:
        short.append(f"{demand.peak_cpu_m}m CPU at peak, {free_cpu}m free")
    if demand.peak_mem_bytes > free_mem:
        short.append(f"{demand.peak_mem_bytes / GIB:.2f} GiB memory at peak, {free_mem / GIB:.2f} GiB free")
    if nodes and not any(n.free_cpu_m >= pod_cpu and n.free_mem_bytes >= pod_mem for n in nodes):
        short.append(f"no single node has room for the largest pod ({pod_cpu}m, {_mib(pod_mem)})")
    if short:
        alloc = sum(n.allocatable_cpu_m for n in nodes)
        used = sum(n.requested_cpu_m for n in nodes)
        check.fits = False
        check.problem = (f"the cluster cannot hold the release: {'; '.join(short)} "
                         f"(nodes: {alloc}m CPU allocatable, {used}m already requested by other pods; "
                         f"the release asks for {demand.breakdown()})")
        check.remedy = (f"{grow_hint}; or fewer replicas (backend_replicas=1 frontend_replicas=1); or smaller "
                        "requests in values-dev (backend.resources.requests.cpu, frontend.resources.requests.cpu)")
    return check


def check(target: providers.ClusterTarget, config: RunbookConfig,
          images: Mapping[str, str] | None = None) -> CapacityCheck:
    """Raise CapacityError, naming the numbers and the fix, when the release will not fit."""
    demand = demand_for(config, images)
    hint = providers.of_target(target).grow_hint(config, demand.peak_cpu_m, demand.peak_mem_bytes)
    result = evaluate(demand, supply_of(target, config), hint)
    if not result.fits:
        raise CapacityError(result.problem, result.remedy)
    return result

"""Faults users really meet, injected into a scratch namespace the AIOps step owns, then removed.

Each fault is a small broken workload: an image the node does not have, a container that exits at
start, a request no node can satisfy, a failing readiness probe, a Service whose selector matches no
pod. The built-in diagnosis must name each cause; the agents are asked "why" in plain words. The
namespace is deleted once they are answered and its absence is read back from the API (the proof), so the
deletion runs while the AIOps step does other work.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .diagnosis import ClusterObjects, Diagnosis, diagnose
from .kube import Kube

MANAGED_BY = {"app.kubernetes.io/managed-by": "todo-runbook-aiops"}
ABSENT_IMAGE = "todo-runbook/absent-image:does-not-exist"


@dataclass(frozen=True)
class Fault:
    key: str
    what: str
    question: str  # what the agent is asked, {namespace} filled in
    rules: tuple[str, ...]  # diagnosis rules any of which names the cause
    obj: str  # the object the finding is about (prefix match)


FAULTS = (
    Fault("pull-error", "image the node does not have (pull error)",
          "Why is deployment fault-pull-error in namespace {namespace} not running?", ("image_pull",),
          "pod/fault-pull-error"),
    Fault("crash-loop", "container exits at start (crash loop)",
          "Why are the fault-crash-loop pods crashing in namespace {namespace}?", ("crash_loop",),
          "pod/fault-crash-loop"),
    Fault("unschedulable", "request no node can satisfy (Pending)",
          "Why is the fault-unschedulable pod Pending in namespace {namespace}?", ("pending_pod",),
          "pod/fault-unschedulable"),
    Fault("not-ready", "failing readiness probe",
          "Why is the fault-not-ready pod not ready in namespace {namespace}?", ("failing_probe", "not_ready"),
          "pod/fault-not-ready"),
    Fault("no-endpoints", "Service whose selector matches no pod",
          "Why does service fault-no-endpoints in namespace {namespace} not answer?", ("service_no_endpoints",),
          "service/fault-no-endpoints"),
)


@dataclass
class FaultResult:
    fault: str
    what: str
    question: str
    diagnosed: bool
    diagnosis: str  # what the built-in diagnosis said
    remedy: str
    agent_answer: str = ""  # what the agent said (filled by the AIOps step)
    agent_outcome: str = ""


@dataclass
class ScratchReport:
    namespace: str
    image: str
    faults: list[FaultResult] = field(default_factory=list)
    diagnosed: int = 0
    injected: int = 0
    removed: bool = False
    removal_proof: str = ""
    seconds_waited: float = 0.0
    error: str = ""


def scratch_namespace(namespace: str) -> str:
    return f"{namespace}-aiops-faults"[:63].rstrip("-")


def _deployment(name: str, image: str, container: dict[str, Any]) -> dict[str, Any]:
    labels = {"app": name, **MANAGED_BY}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                                      {"name": "main", "image": image, "imagePullPolicy": "IfNotPresent",
                                       "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                                     "limits": {"cpu": "100m", "memory": "64Mi"}},
                                       **container}]}}}}


def manifests(image: str) -> list[dict[str, Any]]:
    """The broken workloads. `image` is one the node has: the release's backend image (it has a shell),
    or, on a bare node, its pause image (no shell: the crash is then a start failure)."""
    shell = "pause" not in image
    crash = {"command": ["sh", "-c", "echo 'exiting on purpose'; exit 3"]} if shell else \
        {"command": ["/todo-runbook-exits-at-start"]}
    idle = {"command": ["sh", "-c", "sleep 3600"]} if shell else {}
    # Nothing listens on port 9 in the container: the readiness probe fails with "connection refused".
    probe = {"tcpSocket": {"port": 9}, "periodSeconds": 2, "failureThreshold": 1}
    return [
        _deployment("fault-pull-error", ABSENT_IMAGE, {}),
        _deployment("fault-crash-loop", image, crash),
        _deployment("fault-unschedulable", image, {**idle, "resources": {
            "requests": {"cpu": "1000", "memory": "16Mi"}, "limits": {"cpu": "1000", "memory": "64Mi"}}}),
        _deployment("fault-not-ready", image, {**idle, "readinessProbe": probe}),
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "fault-no-endpoints", "labels": dict(MANAGED_BY)},
         "spec": {"selector": {"app": "no-pod-has-this-label"}, "ports": [{"port": 80, "targetPort": 8000}]}},
    ]


def node_image(kube: Kube, namespace: str) -> str:
    """An image the node has: its pause image (the same everywhere), else the backend image, else any image."""
    names = [n for node in kube.plain(kube.core.list_node().items)
             for image in (node.get("status") or {}).get("images") or []
             for n in image.get("names") or [] if "@" not in n]
    # The pause image is on every node and behaves the same everywhere (the app images may have no shell).
    pauses = [n for n in names if "pause" in n]
    if pauses:
        return str(pauses[0])
    for pod in kube.pods(namespace, "app.kubernetes.io/component=backend"):
        for container in pod.get("spec", {}).get("containers") or []:
            return str(container["image"])
    if names:
        return str(names[0])
    return "todo-runbook/pause:3.10"  # the test bed's sandbox image; any node has a pause image


def inject(kube: Kube, scratch: str, image: str) -> int:
    from kubernetes.client.exceptions import ApiException

    try:
        kube.core.create_namespace({"metadata": {"name": scratch, "labels": dict(MANAGED_BY)}})
    except ApiException as exc:
        if exc.status != 409:
            raise
    count = 0
    for manifest in manifests(image):
        try:
            if manifest["kind"] == "Deployment":
                kube.apps.create_namespaced_deployment(scratch, manifest)
            else:
                kube.core.create_namespaced_service(scratch, manifest)
        except ApiException as exc:
            if exc.status != 409:  # left from an interrupted run: it is the same object
                raise
        count += 1
    return count


def read_objects(kube: Kube, namespace: str) -> tuple[list[Any], list[Any], ClusterObjects]:
    pods, events = kube.pods(namespace), kube.events(namespace)
    objects = ClusterObjects(
        services=kube.services(namespace),
        endpoints=kube.plain(kube.core.list_namespaced_endpoints(namespace).items),
        deployments=kube.deployments(namespace))
    return pods, events, objects


def diagnose_namespace(kube: Kube, namespace: str) -> Diagnosis:
    pods, events, objects = read_objects(kube, namespace)
    return diagnose(namespace, pods, events, None, objects)


def judge(diag: Diagnosis) -> list[FaultResult]:
    results = []
    for fault in FAULTS:
        hits = [f for f in diag.findings if f.rule in fault.rules and f.object.startswith(fault.obj)]
        # The most specific rule listed first wins (crash_loop over restarts, failing_probe over not_ready).
        hits.sort(key=lambda f: fault.rules.index(f.rule))
        best = hits[0] if hits else None
        results.append(FaultResult(fault.key, fault.what, fault.question, best is not None,
                                   f"{best.rule}: {best.object}: {best.detail}" if best else "not named",
                                   best.remedy if best else ""))
    return results


def wait_until_diagnosed(kube: Kube, namespace: str, timeout_s: float,
                         sleep: Callable[[float], None] = time.sleep) -> tuple[Diagnosis, list[FaultResult], float]:
    """Poll until every fault shows its symptom (or time is up): crash loops need a few restarts."""
    started = time.monotonic()
    while True:
        diag = diagnose_namespace(kube, namespace)
        results = judge(diag)
        waited = time.monotonic() - started
        if all(r.diagnosed for r in results) or waited >= timeout_s:
            return diag, results, round(waited, 1)
        sleep(3)


def request_removal(kube: Kube, namespace: str) -> str:
    """Ask for the scratch namespace's deletion; the problem, or "" once it is under way (or already gone)."""
    from kubernetes.client.exceptions import ApiException

    try:
        kube.core.delete_namespace(namespace, grace_period_seconds=0)
    except ApiException as exc:
        if exc.status != 404:
            return f"delete failed: {exc.status} {exc.reason}"
        return ""
    except Exception as exc:  # no answer at all: say so, the runbook goes on
        return f"delete failed: {type(exc).__name__}: {str(exc)[:200]}"
    # The namespace controller first looks 5 s after the deletion; a pod still running then makes it wait out
    # that pod's grace period before it looks again. The broken pods are ours and hold nothing: remove them now
    # (the terminating namespace admits no new ones), so that first look finds the namespace empty.
    with contextlib.suppress(Exception):
        kube.core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
    return ""


def confirm_removed(kube: Kube, namespace: str, requested_at: float, timeout_s: float = 120) -> tuple[bool, str]:
    """Read back that the namespace is gone (404), not just that its deletion began at `requested_at`."""
    from kubernetes.client.exceptions import ApiException

    phase = "?"
    deadline = time.monotonic() + timeout_s  # from now: the step may have done other work since the request
    while True:
        try:
            ns = kube.core.read_namespace(namespace)
        except ApiException as exc:
            if exc.status == 404:
                return True, (f"GET /api/v1/namespaces/{namespace} -> 404 NotFound "
                              f"{time.monotonic() - requested_at:.1f} s after the deletion")
            return False, f"read failed: {exc.status} {exc.reason}"
        except Exception as exc:
            return False, f"read failed: {type(exc).__name__}: {str(exc)[:200]}"
        phase = ns.status.phase if ns.status else "?"
        if time.monotonic() >= deadline:
            break
        time.sleep(1)
    return False, f"namespace {namespace} still present ({phase}) after {timeout_s:.0f} s"


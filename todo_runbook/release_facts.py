"""What the AIOps step reads from the release through the API: its diagnosis, and replica checks
that prove a change an agent made (and that the release was put back afterwards)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from .diagnosis import ClusterObjects, Diagnosis, diagnose
from .kube import COMPONENT_LABEL, Kube


def _optional(read: Callable[[], Any]) -> Any:
    """Cluster-wide reads may be forbidden to the user or absent (no metrics API): a rule then stays quiet."""
    try:
        return read()
    except Exception:
        return None


def release_objects(kube: Kube, namespace: str) -> ClusterObjects:
    from kubernetes import client

    net = client.NetworkingV1Api(kube.api_client)
    autoscaling = client.AutoscalingV2Api(kube.api_client)
    ingresses = _optional(lambda: kube.plain(net.list_namespaced_ingress(namespace).items)) or []
    return ClusterObjects(
        services=kube.services(namespace),
        endpoints=kube.plain(kube.core.list_namespaced_endpoints(namespace).items),
        deployments=kube.deployments(namespace),
        ingresses=ingresses,
        ingress_classes=_optional(lambda: kube.plain(net.list_ingress_class().items)) or [],
        nodes=_optional(lambda: kube.plain(kube.core.list_node().items)) or [],
        hpas=_optional(lambda: kube.plain(
            autoscaling.list_namespaced_horizontal_pod_autoscaler(namespace).items)) or [])


def diagnose_release(kube: Kube, namespace: str) -> Diagnosis:
    pods, events = kube.pods(namespace), kube.events(namespace)
    metrics = _optional(lambda: kube.pod_metrics(namespace)) or []
    return diagnose(namespace, pods, events, metrics, release_objects(kube, namespace))


def _deployment(kube: Kube, namespace: str, component: str) -> Mapping[str, Any] | None:
    found = kube.deployments(namespace, f"{COMPONENT_LABEL}={component}")
    return found[0] if found else None


def replicas_of(kube: Kube | None, namespace: str) -> dict[str, int]:
    """name -> spec.replicas of every deployment in the namespace (what to restore)."""
    if kube is None:
        return {}
    return {d["metadata"]["name"]: d["spec"].get("replicas", 1) for d in kube.deployments(namespace)}


def wait_ready_replicas(kube: Kube, namespace: str, component: str, want: int, timeout_s: float) -> tuple[bool, str]:
    """Poll the API until the component's deployment has `want` Ready pods (and asks for that many)."""
    started = time.monotonic()
    ready = spec = 0
    name = "?"
    while True:
        dep = _deployment(kube, namespace, component)
        if dep:
            name = dep["metadata"]["name"]
            spec = dep["spec"].get("replicas", 0)
            ready = (dep.get("status") or {}).get("readyReplicas") or 0
            pods = [p for p in kube.pods(namespace, f"{COMPONENT_LABEL}={component}")
                    if not p["metadata"].get("deletionTimestamp")]
            ready_pods = sum(any(c.get("type") == "Ready" and c.get("status") == "True"
                                 for c in p.get("status", {}).get("conditions") or []) for p in pods)
            if spec == want and ready == want and ready_pods == want:
                return True, (f"deployment/{name}: {ready_pods} Ready {component} pods of {want} asked "
                              f"(read from the API after {time.monotonic() - started:.1f} s)")
        if time.monotonic() - started > timeout_s:
            return False, (f"deployment/{name}: spec.replicas={spec}, readyReplicas={ready} after "
                           f"{timeout_s:.0f} s; {want} asked")
        time.sleep(2)


def restore_replicas(kube: Kube, namespace: str, originals: dict[str, int], timeout_s: float) -> str:
    """Put every deployment back to its replica count from before the agents ran; say what the API shows."""
    lines = []
    for name, replicas in originals.items():
        try:
            kube.apps.patch_namespaced_deployment_scale(name, namespace, {"spec": {"replicas": replicas}})
        except Exception as exc:
            lines.append(f"{name}: restore failed: {type(exc).__name__}: {str(exc)[:120]}")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        current = {d["metadata"]["name"]: ((d.get("status") or {}).get("readyReplicas") or 0,
                                           d["spec"].get("replicas", 1)) for d in kube.deployments(namespace)}
        if all(current.get(n, (0, 0)) == (r, r) for n, r in originals.items()):
            break
        time.sleep(2)
    ready = {d["metadata"]["name"]: (d.get("status") or {}).get("readyReplicas") or 0
             for d in kube.deployments(namespace)}
    lines += [f"{n}: {ready.get(n, 0)}/{r} Ready" for n, r in originals.items()]
    return "restored to the release's replica counts: " + ", ".join(lines)

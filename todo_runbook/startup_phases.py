"""Where a pod's start goes, beyond its conditions: image ready, container started, app listening.

The conditions (kube.start_phases) say when a pod was scheduled, initialized and Ready. Three more
moments come from other places, read once per verify: the kubelet's `Pulled` event (the image is on the
node: pulled, or "already present"), the container status's `startedAt`, and the first line in which the
app says it listens (uvicorn's "Uvicorn running on", Next.js's "Ready in"), from the container log with
the kubelet's own timestamps. Between "app listening" and "containers ready" is the probe's share.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from .kube import Kube
from .timing import parse_iso

# What servers print once their socket accepts connections; the first such line counts.
LISTENING = re.compile(r"Uvicorn running on|Ready in \d|[Ll]istening on")
# Every start phase in the order a pod passes them (kube.PHASES are the conditions among them).
START_PHASES = ("scheduled", "initialized", "image_ready", "container_started", "app_listening",
                "containers_ready", "ready")


def _latest(stamps: Iterable[str | None]) -> str | None:
    found = [(parsed, stamp) for stamp in stamps if stamp and (parsed := parse_iso(stamp))]
    return max(found)[1] if found else None


def _seconds(created: str, when: str | None) -> float | None:
    start, end = parse_iso(created), parse_iso(when) if when else None
    return round((end - start).total_seconds(), 3) if start and end else None


def image_ready_at(events: Iterable[Mapping[str, Any]], pod_name: str, containers: set[str]) -> str | None:
    """The latest `Pulled` event of the pod's serving containers (init containers are the Initialized phase)."""
    times = []
    for event in events:
        involved = event.get("involvedObject") or {}
        named = re.fullmatch(r"spec\.containers\{(.+)\}", involved.get("fieldPath") or "")
        when = event.get("eventTime") or event.get("lastTimestamp") or event.get("firstTimestamp")
        if event.get("reason") == "Pulled" and involved.get("name") == pod_name and named \
                and named.group(1) in containers and when:
            times.append(str(when))
    return _latest(times)


def container_started_at(pod: Mapping[str, Any]) -> str | None:
    """The last serving container's `startedAt` (a pod serves once all its containers run)."""
    return _latest(((cs.get("state") or {}).get("running") or {}).get("startedAt")
                   for cs in (pod.get("status") or {}).get("containerStatuses") or [])


def listening_at(timestamped_log: str) -> str | None:
    """The kubelet timestamp of the first line saying the server listens (`kubectl logs --timestamps`)."""
    for line in timestamped_log.splitlines():
        stamp, _, text = line.partition(" ")
        if LISTENING.search(text):
            return stamp
    return None


def extra_phases(pod: Mapping[str, Any], events: Iterable[Mapping[str, Any]],
                 logs: Mapping[str, str]) -> dict[str, float | None]:
    """Seconds from creation to image ready, container started and app listening (None: not seen).

    `logs` maps container name to its timestamped log; with several containers the latest listener counts."""
    meta = pod.get("metadata") or {}
    created = meta.get("creationTimestamp", "")
    containers = {c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []}
    listening = _latest(listening_at(text) for text in logs.values())
    return {"image_ready": _seconds(created, image_ready_at(events, meta.get("name", ""), containers)),
            "container_started": _seconds(created, container_started_at(pod)),
            "app_listening": _seconds(created, listening)}


def observe(kube: Kube, namespace: str, pods: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Pod name -> its extra phases, read from the API (one events list, one log read per container)."""
    pods = list(pods)
    try:
        events = kube.events(namespace)
    except Exception:  # no events (RBAC, API hiccup): the phases from conditions still stand
        events = []
    out = {}
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name", "")
        logs = {}
        for container in (pod.get("spec") or {}).get("containers") or []:
            try:
                logs[container["name"]] = kube.core.read_namespaced_pod_log(
                    name, namespace, container=container["name"], timestamps=True, limit_bytes=200_000)
            except Exception:  # a log not readable yet: "app listening" stays unknown for it
                continue
        out[name] = extra_phases(pod, events, logs)
    return out


def merged(phases: Mapping[str, float | None], extra: Mapping[str, float | None]) -> dict[str, float | None]:
    """The condition phases and the extra ones, in START_PHASES order."""
    both = {**phases, **extra}
    return {name: both.get(name) for name in START_PHASES}

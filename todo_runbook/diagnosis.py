"""Built-in, rule-based diagnosis of a namespace: always runs, needs no AI tool and no credentials.

Works on plain dicts shaped like the Kubernetes API's JSON (camelCase), so recorded objects can be
diagnosed later and the rules can be tested on fixtures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .kube import is_ready
from .stats import parse_cpu, parse_memory

ERROR, WARNING, INFO = "error", "warning", "info"
_PULL_ERRORS = {"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"}
_CONFIG_ERRORS = {"CreateContainerConfigError", "CreateContainerError"}
HIGH_USAGE = 0.8  # share of a limit above which we warn
LOW_USAGE = 0.1  # share of a request below which the request is mostly idle


@dataclass
class Finding:
    rule: str
    severity: str
    object: str
    detail: str
    remedy: str


@dataclass
class Diagnosis:
    namespace: str
    findings: list[Finding] = field(default_factory=list)
    pods_examined: int = 0
    events_examined: int = 0

    @property
    def healthy(self) -> bool:
        return not any(f.severity == ERROR for f in self.findings)

    def by_rule(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for f in self.findings:
            counts[f.rule] = counts.get(f.rule, 0) + 1
        return counts


def _name(obj: Mapping[str, Any]) -> str:
    return str(obj.get("metadata", {}).get("name", "?"))


def _condition(pod: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in pod.get("status", {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def _statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status = pod.get("status", {})
    return list(status.get("initContainerStatuses") or []) + list(status.get("containerStatuses") or [])


def _events_for(events: list[Mapping[str, Any]], pod_name: str) -> list[Mapping[str, Any]]:
    return [e for e in events if e.get("involvedObject", {}).get("name") == pod_name]


def _pending_remedy(message: str) -> str:
    text = message.lower()
    if "insufficient cpu" in text or "insufficient memory" in text:
        return ("the nodes lack free CPU/memory for the pod's requests: lower resources.requests in the values "
                "file, reduce replicas, or give the cluster more (minikube start --cpus/--memory)")
    if "taint" in text:
        return "no node tolerates the pod: remove the taint (kubectl taint nodes NODE KEY-) or add a toleration"
    if "persistentvolumeclaim" in text or "unbound" in text:
        return "a PersistentVolumeClaim is unbound: check the storage class (kubectl get pvc,sc)"
    if "node(s) didn't match" in text or "affinity" in text or "selector" in text:
        return "no node matches the pod's nodeSelector/affinity: relax it or label a node"
    return "see `kubectl describe pod` events; the scheduler says why the pod cannot be placed"


def _pod_rules(pod: Mapping[str, Any], events: list[Mapping[str, Any]]) -> list[Finding]:
    name = f"pod/{_name(pod)}"
    findings: list[Finding] = []
    status = pod.get("status", {})
    phase = status.get("phase")
    if phase == "Pending":
        sched = _condition(pod, "PodScheduled")
        if sched and sched.get("status") == "False":
            message = sched.get("message") or sched.get("reason") or ""
            findings.append(Finding("pending_pod", ERROR, name, f"not scheduled: {message}".strip(),
                                    _pending_remedy(message)))
        else:
            failed = [e.get("message", "") for e in _events_for(events, _name(pod))
                      if e.get("reason") == "FailedScheduling"]
            if failed:
                findings.append(Finding("pending_pod", ERROR, name, f"not scheduled: {failed[-1]}",
                                        _pending_remedy(failed[-1])))
    crash_looping = False
    for cs in _statuses(pod):
        cname = cs.get("name", "?")
        waiting = (cs.get("state") or {}).get("waiting") or {}
        terminated = (cs.get("state") or {}).get("terminated") or {}
        last = (cs.get("lastState") or {}).get("terminated") or {}
        reason = waiting.get("reason", "")
        if reason == "CrashLoopBackOff":
            crash_looping = True
            exit_info = f" (last exit code {last.get('exitCode')}, {last.get('reason', 'no reason')})" if last else ""
            findings.append(Finding("crash_loop", ERROR, f"{name}/{cname}", f"container keeps crashing{exit_info}",
                                    f"read the crash: kubectl logs {_name(pod)} -c {cname} --previous; "
                                    "check env vars/secrets and the database URL"))
        if reason in _PULL_ERRORS:
            findings.append(Finding("image_pull", ERROR, f"{name}/{cname}",
                                    f"{reason}: {waiting.get('message', cs.get('image', ''))}",
                                    "the node cannot get the image: load it into the cluster (minikube image load "
                                    "IMAGE / kind load docker-image IMAGE) and use pullPolicy IfNotPresent or Never; "
                                    "check the repository:tag spelling"))
        if reason in _CONFIG_ERRORS:
            findings.append(Finding("container_config", ERROR, f"{name}/{cname}",
                                    f"{reason}: {waiting.get('message', '')}",
                                    "a referenced Secret/ConfigMap or key is missing: kubectl get secret,configmap; "
                                    "set secrets.existingSecret or the chart's secret values"))
        if "OOMKilled" in (terminated.get("reason"), last.get("reason")):
            findings.append(Finding("oom_killed", ERROR, f"{name}/{cname}",
                                    "the container was killed for exceeding its memory limit",
                                    "raise resources.limits.memory for this component, or find the leak"))
        restarts = cs.get("restartCount", 0) or 0
        if restarts > 0 and not crash_looping:
            findings.append(Finding("restarts", WARNING, f"{name}/{cname}", f"restarted {restarts} time(s)",
                                    f"kubectl logs {_name(pod)} -c {cname} --previous shows why"))
    for event in _events_for(events, _name(pod)):
        message = event.get("message", "")
        # A probe that failed once or twice while a now-Ready pod was starting is start-up noise, not a finding.
        transient = is_ready(pod) and (event.get("count") or 1) < 3
        if event.get("reason") == "Unhealthy" and "probe failed" in message.lower() and not transient:
            findings.append(Finding("failing_probe", WARNING, name,
                                    f"{message} (seen {event.get('count', 1)}x)",
                                    "check the probe path/port against the app (backend /health and /ready, "
                                    "frontend /healthz) and give slow starts an initialDelay or startupProbe"))
    ready = _condition(pod, "Ready")
    if phase == "Running" and ready and ready.get("status") == "False" and not crash_looping:
        detail = f"running but not Ready: {ready.get('message', '')}".strip()
        findings.append(Finding("not_ready", WARNING, name, detail,
                                "the readiness probe fails: kubectl describe pod shows the probe result"))
    for container in pod.get("spec", {}).get("containers") or []:
        resources = container.get("resources") or {}
        missing = [k for k in ("requests", "limits") if not resources.get(k)]
        if missing:
            findings.append(Finding("missing_limits", WARNING, f"{name}/{container.get('name')}",
                                    f"no resources.{' / '.join(missing)} set",
                                    "set resources.requests and resources.limits in the chart values so the "
                                    "scheduler can place it and a leak cannot starve the node"))
    return findings


def _headroom(pods: list[Mapping[str, Any]], metrics: list[Mapping[str, Any]]) -> list[Finding]:
    specs = {}
    for pod in pods:
        for c in pod.get("spec", {}).get("containers") or []:
            specs[(_name(pod), c.get("name"))] = c.get("resources") or {}
    findings = []
    for item in metrics:
        pod_name = _name(item)
        for c in item.get("containers") or []:
            res = specs.get((pod_name, c.get("name")))
            if res is None:
                continue
            usage = c.get("usage") or {}
            obj = f"pod/{pod_name}/{c.get('name')}"
            for resource, parse, unit in (("memory", parse_memory, "MiB"), ("cpu", parse_cpu, "cores")):
                used = parse(usage.get(resource))
                limit = parse((res.get("limits") or {}).get(resource))
                request = parse((res.get("requests") or {}).get(resource))
                if used is None:
                    continue
                scale = 2**20 if unit == "MiB" else 1
                if limit and used / limit >= HIGH_USAGE:
                    findings.append(Finding("resource_headroom", WARNING, obj,
                                            f"{resource} at {used / limit:.0%} of its limit "
                                            f"({used / scale:.2f} of {limit / scale:.2f} {unit})",
                                            f"raise resources.limits.{resource} or reduce load; "
                                            + ("memory at the limit ends in an OOM kill" if resource == "memory"
                                               else "CPU at the limit is throttled")))
                elif request and used / request < LOW_USAGE:
                    findings.append(Finding("resource_headroom", INFO, obj,
                                            f"{resource} uses {used / request:.0%} of its request "
                                            f"({used / scale:.3f} of {request / scale:.3f} {unit})",
                                            f"the request is generous; lower resources.requests.{resource} "
                                            "to fit more on a small cluster"))
    return findings


def diagnose(namespace: str, pods: list[Mapping[str, Any]], events: list[Mapping[str, Any]],
             metrics: list[Mapping[str, Any]] | None = None) -> Diagnosis:
    result = Diagnosis(namespace=namespace, pods_examined=len(pods), events_examined=len(events))
    for pod in pods:
        result.findings.extend(_pod_rules(pod, events))
    result.findings.extend(_headroom(pods, metrics or []))
    order = {ERROR: 0, WARNING: 1, INFO: 2}
    result.findings.sort(key=lambda f: (order.get(f.severity, 3), f.rule, f.object))
    return result

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
        # A command that cannot even start (RunContainerError) is restarted like one that exits: the same loop.
        if reason in ("CrashLoopBackOff", "RunContainerError"):
            crash_looping = True
            exit_info = f" (last exit code {last.get('exitCode')}, {last.get('reason', 'no reason')})" if last else ""
            findings.append(Finding("crash_loop", ERROR, f"{name}/{cname}", f"container keeps crashing{exit_info}",
                                    f"read the crash: kubectl logs {_name(pod)} -c {cname} --previous; "
                                    "check env vars/secrets and the database URL"))
        if reason in _PULL_ERRORS:
            image = str(cs.get("image", ""))
            host = image.split("/", 1)[0] if "/" in image else ""
            pulled = bool(host) and ("." in host or ":" in host or host == "localhost")
            findings.append(Finding("image_pull", ERROR, f"{name}/{cname}",
                                    f"{reason} for image {image}" + (f" from registry {host}" if pulled else "")
                                    + f": {waiting.get('message', '')}",
                                    f"the node cannot pull from {host}: check that the image was pushed (the load "
                                    "step's digests), that the node trusts the registry's CA (containerd hosts.toml) "
                                    "and that the pull Secret's credentials are right (imagePullSecrets)" if pulled else
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


@dataclass
class ClusterObjects:
    """What the object rules read besides pods and events (plain API dicts; any list may be empty)."""

    services: list[Mapping[str, Any]] = field(default_factory=list)
    endpoints: list[Mapping[str, Any]] = field(default_factory=list)
    deployments: list[Mapping[str, Any]] = field(default_factory=list)
    ingresses: list[Mapping[str, Any]] = field(default_factory=list)
    ingress_classes: list[Mapping[str, Any]] = field(default_factory=list)
    nodes: list[Mapping[str, Any]] = field(default_factory=list)
    hpas: list[Mapping[str, Any]] = field(default_factory=list)


def _service_rules(objects: ClusterObjects) -> list[Finding]:
    endpoints = {_name(e): e for e in objects.endpoints}
    findings = []
    for svc in objects.services:
        spec = svc.get("spec") or {}
        if not spec.get("selector") or spec.get("type") == "ExternalName":
            continue  # endpoints managed by hand, or none by design
        ready = sum(len(s.get("addresses") or []) for s in (endpoints.get(_name(svc)) or {}).get("subsets") or [])
        if ready == 0:
            selector = ",".join(f"{k}={v}" for k, v in sorted(spec["selector"].items()))
            findings.append(Finding("service_no_endpoints", ERROR, f"service/{_name(svc)}",
                                    f"no Ready pod behind it (selector {selector})",
                                    f"check the selector against the pod labels (kubectl get pods -l {selector}); "
                                    "if pods match, they are not Ready: see their findings"))
    return findings


def _ingress_rules(objects: ClusterObjects) -> list[Finding]:
    classes = {_name(c) for c in objects.ingress_classes}
    default = any((c.get("metadata", {}).get("annotations") or {}).get(
        "ingressclass.kubernetes.io/is-default-class") == "true" for c in objects.ingress_classes)
    findings = []
    for ing in objects.ingresses:
        wanted = (ing.get("spec") or {}).get("ingressClassName") or \
            (ing.get("metadata", {}).get("annotations") or {}).get("kubernetes.io/ingress.class")
        if wanted and wanted not in classes:
            have = ", ".join(sorted(classes)) or "none"
            findings.append(Finding("ingress_class_missing", ERROR, f"ingress/{_name(ing)}",
                                    f"IngressClass '{wanted}' does not exist (have: {have})",
                                    "install the ingress controller (minikube addons enable ingress) or set "
                                    "ingress.className to an existing class"))
        elif not wanted and not default:
            findings.append(Finding("ingress_class_missing", ERROR, f"ingress/{_name(ing)}",
                                    "no ingressClassName and no default IngressClass: no controller will serve it",
                                    "set ingress.className, or mark a class default"))
        elif not ((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
            # A serving controller (in or out of the cluster) publishes its address in the status.
            findings.append(Finding("ingress_controller_missing", WARNING, f"ingress/{_name(ing)}",
                                    f"no ingress controller has published an address for class '{wanted}'",
                                    "install/enable the ingress controller (minikube addons enable ingress) and "
                                    "check its logs; it may still be starting"))
    return findings


def _rollout_rules(objects: ClusterObjects) -> list[Finding]:
    findings = []
    for dep in objects.deployments:
        for cond in (dep.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
                findings.append(Finding("rollout_stuck", ERROR, f"deployment/{_name(dep)}",
                                        f"rollout past its progress deadline: {cond.get('message', '')}".strip(),
                                        f"see why its new pods do not become Ready (their findings); "
                                        f"undo with kubectl rollout undo deployment/{_name(dep)}"))
    return findings


def _node_rules(objects: ClusterObjects, events: list[Mapping[str, Any]]) -> list[Finding]:
    findings = []
    for node in objects.nodes:
        for cond in (node.get("status") or {}).get("conditions") or []:
            if cond.get("type", "").endswith("Pressure") and cond.get("status") == "True":
                findings.append(Finding("node_pressure", ERROR, f"node/{_name(node)}",
                                        f"{cond['type']}: {cond.get('message', '')}".strip(),
                                        "free the resource on the node (images, logs, pods) or add capacity; "
                                        "the kubelet evicts pods while it lasts"))
    evicted = [e for e in events if e.get("reason") == "Evicted"]
    for event in evicted[-3:]:
        findings.append(Finding("evicted", WARNING, f"pod/{event.get('involvedObject', {}).get('name', '?')}",
                                f"evicted: {event.get('message', '')}",
                                "the node ran short of memory/disk: set requests to what the pod uses"))
    return findings


def _hpa_rules(objects: ClusterObjects, events: list[Mapping[str, Any]]) -> list[Finding]:
    findings = []
    for hpa in objects.hpas:
        bad = [c for c in (hpa.get("status") or {}).get("conditions") or []
               if c.get("type") == "ScalingActive" and c.get("status") == "False"]
        failed = [e for e in events if e.get("involvedObject", {}).get("name") == _name(hpa)
                  and e.get("reason") in ("FailedGetResourceMetric", "FailedComputeMetricsReplicas")]
        if bad or failed:
            detail = bad[0].get("message", "") if bad else failed[-1].get("message", "")
            findings.append(Finding("hpa_no_metrics", ERROR, f"hpa/{_name(hpa)}", f"cannot read metrics: {detail}",
                                    "install metrics-server (minikube addons enable metrics-server) and set "
                                    "resources.requests on the target's containers"))
    return findings


def object_rules(objects: ClusterObjects, events: list[Mapping[str, Any]]) -> list[Finding]:
    return [*_service_rules(objects), *_ingress_rules(objects), *_rollout_rules(objects),
            *_node_rules(objects, events), *_hpa_rules(objects, events)]


def diagnose(namespace: str, pods: list[Mapping[str, Any]], events: list[Mapping[str, Any]],
             metrics: list[Mapping[str, Any]] | None = None, objects: ClusterObjects | None = None) -> Diagnosis:
    result = Diagnosis(namespace=namespace, pods_examined=len(pods), events_examined=len(events))
    for pod in pods:
        result.findings.extend(_pod_rules(pod, events))
    result.findings.extend(_headroom(pods, metrics or []))
    if objects is not None:
        result.findings.extend(object_rules(objects, events))
    order = {ERROR: 0, WARNING: 1, INFO: 2}
    result.findings.sort(key=lambda f: (order.get(f.severity, 3), f.rule, f.object))
    return result

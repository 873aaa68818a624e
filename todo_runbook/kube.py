"""Facts about pods and services, from plain API dicts (pure, unit-testable) and from the API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .timing import parse_iso

PHASES = (("scheduled", "PodScheduled"), ("initialized", "Initialized"),
          ("containers_ready", "ContainersReady"), ("ready", "Ready"))
INSTANCE_LABEL = "app.kubernetes.io/instance"
COMPONENT_LABEL = "app.kubernetes.io/component"


@dataclass
class PodReport:
    name: str
    component: str
    node: str
    phase: str
    ready: bool
    restarts: int
    created: str
    phases: dict[str, float | None]
    resources: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)


@dataclass
class ServiceReport:
    name: str
    type: str
    ports: list[str]
    ready_endpoints: int
    not_ready_endpoints: int


def start_phases(pod: Mapping[str, Any]) -> dict[str, float | None]:
    """Seconds from creation to each start phase, from the pod's conditions (None: not reached yet)."""
    created = parse_iso(pod.get("metadata", {}).get("creationTimestamp"))
    conditions = {c.get("type"): c for c in pod.get("status", {}).get("conditions") or []}
    out: dict[str, float | None] = {}
    for key, kind in PHASES:
        cond = conditions.get(kind)
        when = parse_iso(cond.get("lastTransitionTime")) if cond and cond.get("status") == "True" else None
        out[key] = round((when - created).total_seconds(), 3) if when and created else None
    return out


def is_ready(pod: Mapping[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in pod.get("status", {}).get("conditions") or [])


def pod_report(pod: Mapping[str, Any]) -> PodReport:
    meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
    labels = meta.get("labels") or {}
    return PodReport(
        name=meta.get("name", "?"),
        component=labels.get(COMPONENT_LABEL, labels.get("app", "?")),
        node=spec.get("nodeName", ""),
        phase=status.get("phase", "?"),
        ready=is_ready(pod),
        restarts=sum(cs.get("restartCount", 0) or 0 for cs in status.get("containerStatuses") or []),
        created=meta.get("creationTimestamp", ""),
        phases=start_phases(pod),
        resources={c.get("name", "?"): c.get("resources") or {} for c in spec.get("containers") or []},
    )


def service_report(service: Mapping[str, Any], endpoints: Mapping[str, Any] | None) -> ServiceReport:
    ready = not_ready = 0
    for subset in (endpoints or {}).get("subsets") or []:
        ready += len(subset.get("addresses") or [])
        not_ready += len(subset.get("notReadyAddresses") or [])
    spec = service.get("spec", {})
    ports = [f"{p.get('name', '')}:{p.get('port')}->{p.get('targetPort')}" for p in spec.get("ports") or []]
    return ServiceReport(service.get("metadata", {}).get("name", "?"), spec.get("type", "ClusterIP"), ports,
                         ready, not_ready)


def app_pods(pods: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The release's serving pods: not finished ones (helm test pods, jobs) and not terminating ones."""
    return [p for p in pods if p.get("status", {}).get("phase") not in ("Succeeded", "Failed")
            and not p.get("metadata", {}).get("deletionTimestamp")]


# -- live API ----------------------------------------------------------------------------------
class Kube:
    """The few API calls the runbook needs, returning plain dicts."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client

        self.api_client = api_client
        # Any: every field of the client's models is optional; callers read what the API returned.
        self.core: Any = client.CoreV1Api(api_client)
        self.apps: Any = client.AppsV1Api(api_client)
        self.custom: Any = client.CustomObjectsApi(api_client)

    def plain(self, obj: Any) -> Any:
        return self.api_client.sanitize_for_serialization(obj)

    def _plain_list(self, items: Any) -> list[Mapping[str, Any]]:
        return list(self.plain(items))

    def pods(self, namespace: str, selector: str = "") -> list[Mapping[str, Any]]:
        return self._plain_list(self.core.list_namespaced_pod(namespace, label_selector=selector).items)

    def events(self, namespace: str) -> list[Mapping[str, Any]]:
        return self._plain_list(self.core.list_namespaced_event(namespace).items)

    def services(self, namespace: str, selector: str = "") -> list[Mapping[str, Any]]:
        return self._plain_list(self.core.list_namespaced_service(namespace, label_selector=selector).items)

    def endpoints(self, namespace: str, name: str) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            found: dict[str, Any] = self.plain(self.core.read_namespaced_endpoints(name, namespace))
            return found
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def deployments(self, namespace: str, selector: str = "") -> list[Mapping[str, Any]]:
        return self._plain_list(self.apps.list_namespaced_deployment(namespace, label_selector=selector).items)

    def ingresses(self, namespace: str, selector: str = "") -> list[Mapping[str, Any]]:
        from kubernetes import client

        networking = client.NetworkingV1Api(self.api_client)
        return self._plain_list(networking.list_namespaced_ingress(namespace, label_selector=selector).items)

    def ingress_addresses(self, namespace: str, selector: str = "") -> list[str]:
        """Addresses the ingress controller published in the Ingress status (LoadBalancer IPs or names)."""
        from kubernetes import client

        networking = client.NetworkingV1Api(self.api_client)
        items = networking.list_namespaced_ingress(namespace, label_selector=selector).items
        found: list[str] = []
        for ing in items:
            for lb in (ing.status.load_balancer.ingress or []) if ing.status and ing.status.load_balancer else []:
                address = lb.ip or lb.hostname
                if address:
                    found.append(address)
        return found

    def pod_metrics(self, namespace: str) -> list[Mapping[str, Any]]:
        data: Any = self.custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", namespace, "pods")
        return list(data.get("items", []))

    def close(self) -> None:
        self.api_client.close()


def ensure_namespace(core: Any, namespace: str) -> None:
    """Create the namespace when it is missing (a Secret made before `helm --create-namespace` needs it)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    try:
        core.read_namespace(namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))

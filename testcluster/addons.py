"""The node's add-ons, run as host processes next to the kubelet: CoreDNS, metrics-server, Traefik, storage.

Host processes rather than pods: they need no images (none can be pulled here), start in a second and
are stopped by pid like everything else. Each is wired into the cluster the way the real add-on is:

- CoreDNS (kubernetes plugin, its own client certificate and RBAC) listens on the node's bridge
  gateway, port 53. A selector-less Service ``kube-system/kube-dns`` with the cluster DNS IP
  (10.96.0.10) plus an Endpoints object pointing at the gateway make kube-proxy DNAT pod and host
  queries to it; the kubelet gives every pod that IP as its nameserver.
- metrics-server listens on the gateway (port 10443) with a CA-signed serving certificate; the
  ``v1beta1.metrics.k8s.io`` APIService (caBundle = cluster CA) names the selector-less Service
  ``kube-system/metrics-server`` whose Endpoints point there (the API server uses aggregator routing).
  It scrapes the kubelet's ``/metrics/resource`` verifying the kubelet's CA-signed serving certificate
  (``--kubelet-certificate-authority``): no ``--kubelet-insecure-tls``.
- Traefik serves IngressClass ``nginx`` (controller ``k8s.io/ingress-nginx``) through its
  ``kubernetesIngressNGINX`` provider, listening on ``127.0.0.1:18080`` (HTTP, entry point ``web``) and
  ``127.0.0.1:18443`` (HTTPS, entry point ``websecure``: an Ingress's ``tls`` section is served there with the
  certificate of its ``kubernetes.io/tls`` Secret, and plain HTTP on ``web`` redirects to HTTPS unless the
  Ingress says ``nginx.ingress.kubernetes.io/ssl-redirect: "false"``), forwarding to pod IPs (the host routes
  the pod CIDR through the bridge). ``ingress_url`` and ``ingress_https_url`` go into cluster.json.
- Storage: StorageClass ``standard`` (default, ``kubernetes.io/no-provisioner``) and a few hostPath
  PersistentVolumes on the node created in advance; Released ones are wiped and made Available again
  by :func:`reclaim_volumes` (called on every ``up``).
"""

from __future__ import annotations

import base64
import os
import shutil
import time
import urllib.request
from pathlib import Path
from typing import Any

from testcluster import procs
from testcluster.context import ClusterContext
from testcluster.node_layout import NodeLayout, NodeState

COREDNS_HEALTH = "127.0.0.1:19053"
COREDNS_READY = "127.0.0.1:19054"
METRICS_SERVER_PORT = 10443
INGRESS_ADDRESS = "127.0.0.1"
INGRESS_PORT = 18080
INGRESS_HTTPS_PORT = 18443
TRAEFIK_PING_PORT = 18082
INGRESS_CLASS = "nginx"
INGRESS_CONTROLLER = "k8s.io/ingress-nginx"
STORAGE_CLASS = "standard"
VOLUME_COUNT = 24  # a whole test session (chart, e2e, node tests) installs many releases between two `up`s
VOLUME_SIZE = "5Gi"
MANAGED_BY = "testcluster.todo-runbook.io"


# ----------------------------------------------------------------------------------------------
# Applying objects (server-side apply, so `up` twice converges)


def apply(ctx: ClusterContext, manifests: list[dict[str, Any]]) -> None:
    from kubernetes import dynamic

    client = dynamic.DynamicClient(ctx.api_client())
    for manifest in manifests:
        manifest.setdefault("metadata", {}).setdefault("labels", {})["app.kubernetes.io/managed-by"] = MANAGED_BY
        resource = client.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
        client.server_side_apply(resource, body=manifest, namespace=manifest["metadata"].get("namespace"),
                                 field_manager="testcluster", force_conflicts=True)


def _cluster_role(name: str, rules: list[dict[str, Any]], user: str, labels: dict[str, str] | None = None
                  ) -> list[dict[str, Any]]:
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name, "labels": dict(labels or {})}, "rules": rules}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}
    return [role, binding]


def host_service(name: str, namespace: str, cluster_ip: str | None, ports: list[dict[str, Any]], address: str,
                 labels: dict[str, str]) -> list[dict[str, Any]]:
    """A selector-less Service plus the Endpoints naming a host address (mirrored to EndpointSlices)."""
    service_ports = [{"name": p["name"], "port": p["port"], "targetPort": p["targetPort"],
                      "protocol": p.get("protocol", "TCP")} for p in ports]
    spec: dict[str, Any] = {"type": "ClusterIP", "ports": service_ports}
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": spec}
    endpoints = {
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "subsets": [{"addresses": [{"ip": address}],
                     "ports": [{"name": p["name"], "port": p["targetPort"], "protocol": p.get("protocol", "TCP")}
                               for p in ports]}],
    }
    return [service, endpoints]


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


# ----------------------------------------------------------------------------------------------
# CoreDNS


def corefile(ctx: ClusterContext, gateway: str, kubeconfig: Path) -> str:
    domain = ctx.network.cluster_domain
    return f""".:53 {{
    bind {gateway}
    errors
    health {COREDNS_HEALTH}
    ready {COREDNS_READY}
    kubernetes {domain} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} {ctx.context}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    forward . /etc/resolv.conf
    cache 30
    loadbalance
}}
"""


def coredns_up(ctx: ClusterContext, layout: NodeLayout, gateway: str) -> dict[str, Any]:
    apply(ctx, _cluster_role("system:coredns", [
        {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": ["list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
    ], "system:coredns"))
    apply(ctx, host_service("kube-dns", "kube-system", ctx.network.cluster_dns_ip, [
        {"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"},
        {"name": "dns-tcp", "port": 53, "targetPort": 53, "protocol": "TCP"},
    ], gateway, {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}))
    kubeconfig = ctx.write_kubeconfig("coredns", "system:coredns")
    path = layout.root / "Corefile"
    path.write_text(corefile(ctx, gateway, kubeconfig))
    recorded = ctx.start_process("coredns", [str(ctx.binary("coredns")), "-conf", str(path)])
    procs.wait_until(lambda: http_ok(f"http://{COREDNS_READY}/ready"), what="CoreDNS ready", timeout=60,
                     watch=recorded)
    return {"address": f"{gateway}:53", "service_ip": ctx.network.cluster_dns_ip, "pid": recorded.pid}


# ----------------------------------------------------------------------------------------------
# metrics-server


def metrics_server_up(ctx: ClusterContext, layout: NodeLayout, gateway: str) -> dict[str, Any]:
    user = "system:metrics-server"
    manifests = _cluster_role("system:metrics-server", [
        {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]},
    ], user)
    manifests += [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "system:aggregated-metrics-reader",
                      "labels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true",
                                 "rbac.authorization.k8s.io/aggregate-to-edit": "true",
                                 "rbac.authorization.k8s.io/aggregate-to-view": "true"}},
         "rules": [{"apiGroups": ["metrics.k8s.io"], "resources": ["pods", "nodes"],
                    "verbs": ["get", "list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "metrics-server:system:auth-delegator"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "metrics-server-auth-reader", "namespace": "kube-system"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": "extension-apiserver-authentication-reader"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]},
    ]
    manifests += host_service("metrics-server", "kube-system", None,
                              [{"name": "https", "port": 443, "targetPort": METRICS_SERVER_PORT}], gateway,
                              {"k8s-app": "metrics-server"})
    apply(ctx, manifests)
    kubeconfig = ctx.write_kubeconfig("metrics-server", user)
    serving = ctx.issue_serving_cert("metrics-server", "metrics-server",
                                     ["metrics-server.kube-system.svc", "metrics-server.kube-system",
                                      "metrics-server", gateway])
    argv = [
        str(ctx.binary("metrics-server")),
        f"--bind-address={gateway}", f"--secure-port={METRICS_SERVER_PORT}",
        f"--tls-cert-file={serving.cert}", f"--tls-private-key-file={serving.key}",
        f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--kubelet-preferred-address-types=InternalIP", "--kubelet-use-node-status-port",
        f"--kubelet-certificate-authority={ctx.ca.cert}",
        # Only real kubelets: simulated (kwok) nodes advertise the host address but run no kubelet.
        "--node-selector=testbed.todo-runbook.io/real=true",
        "--metric-resolution=15s", "--v=1",
    ]
    recorded = ctx.start_process("metrics-server", argv)
    apply(ctx, [{
        "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
        "metadata": {"name": "v1beta1.metrics.k8s.io", "labels": {"k8s-app": "metrics-server"}},
        "spec": {"group": "metrics.k8s.io", "version": "v1beta1",
                 "service": {"name": "metrics-server", "namespace": "kube-system", "port": 443},
                 "caBundle": base64.b64encode(Path(ctx.ca.cert).read_bytes()).decode(),
                 "groupPriorityMinimum": 100, "versionPriority": 100},
    }])
    procs.wait_until(lambda: apiservice_available(ctx, "v1beta1.metrics.k8s.io"),
                     what="APIService v1beta1.metrics.k8s.io Available", timeout=120, interval=1, watch=recorded)
    return {"address": f"{gateway}:{METRICS_SERVER_PORT}", "apiservice": "v1beta1.metrics.k8s.io",
            "kubelet_tls": "verified with the cluster CA", "pid": recorded.pid}


def apiservice_available(ctx: ClusterContext, name: str) -> bool:
    from kubernetes import client

    api = client.ApiregistrationV1Api(ctx.api_client())
    conditions = api.read_api_service(name).status.conditions or []
    return any(c.type == "Available" and c.status == "True" for c in conditions)


# ----------------------------------------------------------------------------------------------
# Traefik (ingress class nginx)


# ingress-nginx retries a request on the next endpoint when connecting fails (its default
# `proxy_next_upstream error timeout`) and never sends new requests to a terminating pod. Traefik up to v3.6
# did send them (its ingress-nginx provider dropped the fencing of terminating endpoints; v3.7.5 keeps it), so
# during a rolling update it picked pods whose process had just exited (measured: 37-74 502s per `helm
# upgrade` without a retry). The entry-point retry middleware stays for pods that die unannounced (a crash,
# an OOM kill): it retries only when no response came back from the pod (connection refused/reset/dial
# timeout), never after the request reached it. A connection to a pod whose network namespace is gone gets no
# reply at all (SYN into the void): with Traefik's default 30 s dial timeout the request hung for 30 s before
# the retry could act. A 1 s dial timeout (node-local pods connect in < 1 ms) turns that into a fast retry on
# a live pod; 4 attempts cover both old pods plus one more.
TRAEFIK_DYNAMIC = """http:
  middlewares:
    upstream-retry:
      retry:
        attempts: 4
        initialInterval: 50ms
"""
TRAEFIK_DIAL_TIMEOUT = "1s"
# Only the requests worth a look: answered 5xx, or retried on another pod (JSON, one object per line). A failed
# request during a rolling update then names the pod it went to (ServiceURL) and when (StartUTC).
TRAEFIK_ACCESS_LOG_FILTERS = ("--accesslog.filters.statusCodes=500-599", "--accesslog.filters.retryAttempts=true")
# How soon EndpointSlice changes (a terminating pod fenced, a new pod added) reach the routing table:
# Traefik's default waits 2 s between provider events before applying a configuration.
TRAEFIK_PROVIDERS_THROTTLE = "200ms"


def traefik_up(ctx: ClusterContext, layout: NodeLayout) -> dict[str, Any]:
    user = "system:traefik-ingress-controller"
    manifests = _cluster_role("system:traefik-ingress-controller", [
        {"apiGroups": [""], "resources": ["services", "endpoints", "secrets", "configmaps", "namespaces", "nodes",
                                          "pods"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "ingressclasses"],
         "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses/status"], "verbs": ["update", "patch"]},
    ], user)
    manifests.append({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                      "metadata": {"name": INGRESS_CLASS}, "spec": {"controller": INGRESS_CONTROLLER}})
    apply(ctx, manifests)
    kubeconfig = ctx.write_kubeconfig("traefik", user)
    dynamic_config = layout.root / "traefik-dynamic.yaml"
    dynamic_config.write_text(TRAEFIK_DYNAMIC)
    access_log = layout.root / "traefik-access.log"
    provider = "--providers.kubernetesIngressNGINX"
    argv = [
        str(ctx.binary("traefik")),
        f"--entryPoints.web.address={INGRESS_ADDRESS}:{INGRESS_PORT}",
        # TLS on this entry point is what makes the provider attach its plain-HTTP (or redirect) routers to
        # `web` only (its NonTLSEntryPoints), as ingress-nginx serves port 80 and 443.
        f"--entryPoints.websecure.address={INGRESS_ADDRESS}:{INGRESS_HTTPS_PORT}",
        "--entryPoints.websecure.http.tls=true",
        f"--entryPoints.traefik.address=127.0.0.1:{TRAEFIK_PING_PORT}",
        "--ping=true", "--ping.entryPoint=traefik",
        f"--providers.file.filename={dynamic_config}",
        "--entryPoints.web.http.middlewares=upstream-retry@file",
        "--entryPoints.websecure.http.middlewares=upstream-retry@file",
        f"--serversTransport.forwardingTimeouts.dialTimeout={TRAEFIK_DIAL_TIMEOUT}",
        f"--providers.providersThrottleDuration={TRAEFIK_PROVIDERS_THROTTLE}",
        f"{provider}=true",
        f"{provider}.ingressClass={INGRESS_CLASS}",
        f"{provider}.controllerClass={INGRESS_CONTROLLER}",
        f"{provider}.publishStatusAddress={INGRESS_ADDRESS}",
        "--global.checkNewVersion=false", "--global.sendAnonymousUsage=false",
        "--log.level=INFO",
        "--accesslog=true", f"--accesslog.filepath={access_log}", "--accesslog.format=json",
        *TRAEFIK_ACCESS_LOG_FILTERS,
    ]
    # KUBECONFIG selects Traefik's out-of-cluster client (client certificate from our kubeconfig).
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE_")}
    env["KUBECONFIG"] = str(kubeconfig)
    _stop_if_started_differently(ctx, "traefik", argv)
    recorded = ctx.start_process("traefik", argv, env=env)
    procs.wait_until(lambda: http_ok(f"http://127.0.0.1:{TRAEFIK_PING_PORT}/ping"), what="Traefik /ping",
                     timeout=60, watch=recorded)
    url = f"http://{INGRESS_ADDRESS}:{INGRESS_PORT}"
    https_url = f"https://{INGRESS_ADDRESS}:{INGRESS_HTTPS_PORT}"
    ctx.record(ingress_url=url, ingress_https_url=https_url, ingress_access_log=str(access_log))
    return {"url": url, "https_url": https_url, "ingress_class": INGRESS_CLASS, "pid": recorded.pid}


def _stop_if_started_differently(ctx: ClusterContext, name: str, argv: list[str]) -> None:
    """`up` on a running test bed reuses live processes; one started with other flags is restarted instead."""
    running = ctx.process(name)
    if running is None or not running.alive():
        return
    if list(running.argv) != [str(a) for a in argv]:
        ctx.log(f"node: restarting {name} (its flags changed)")
        ctx.stop_process(name)


# ----------------------------------------------------------------------------------------------
# Storage


def volume_name(index: int) -> str:
    return f"todo-testbed-pv-{index}"


def storage_up(ctx: ClusterContext, layout: NodeLayout, node_name: str) -> dict[str, Any]:
    manifests: list[dict[str, Any]] = [{
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS,
                     "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "kubernetes.io/no-provisioner",
        "reclaimPolicy": "Retain",
        "volumeBindingMode": "WaitForFirstConsumer",
    }]
    for index in range(VOLUME_COUNT):
        directory = layout.volumes_dir / volume_name(index)
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o777)  # the app's containers run as UID 10001
        manifests.append(_volume_manifest(index, directory, node_name))
    apply(ctx, manifests)
    reclaimed = reclaim_volumes(ctx, layout)
    return {"storage_class": STORAGE_CLASS, "volumes": VOLUME_COUNT, "size": VOLUME_SIZE, "reclaimed": reclaimed}


def _volume_manifest(index: int, directory: Path, node_name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": volume_name(index), "labels": {"testbed.todo-runbook.io/volume": "hostpath"}},
        "spec": {
            "capacity": {"storage": VOLUME_SIZE},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": STORAGE_CLASS,
            "hostPath": {"path": str(directory), "type": "DirectoryOrCreate"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node_name]}]}]}},
        },
    }


def reclaim_volumes(ctx: ClusterContext, layout: NodeLayout) -> list[str]:
    """Wipe the data of Released test bed volumes and make them Available again (what a recycler would do)."""
    from kubernetes import client

    api = client.CoreV1Api(ctx.api_client())
    reclaimed = []
    for pv in api.list_persistent_volume(label_selector="testbed.todo-runbook.io/volume=hostpath").items:
        if pv.status.phase != "Released":
            continue
        directory = Path(pv.spec.host_path.path)
        if directory.is_relative_to(layout.volumes_dir) and directory.exists():
            for child in directory.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        api.patch_persistent_volume(pv.metadata.name, [{"op": "remove", "path": "/spec/claimRef"}])
        reclaimed.append(pv.metadata.name)
    return reclaimed


# ----------------------------------------------------------------------------------------------
# Entry points used by testcluster.node


def up(ctx: ClusterContext, layout: NodeLayout, state: NodeState) -> dict[str, Any]:
    t = time.monotonic()
    result = {"storage": storage_up(ctx, layout, state.node_name)}
    result["coredns"] = coredns_up(ctx, layout, state.gateway_ip)
    ctx.log(f"node: CoreDNS answering on {state.gateway_ip}:53 as {ctx.network.cluster_dns_ip}")
    result["metrics_server"] = metrics_server_up(ctx, layout, state.gateway_ip)
    ctx.log("node: metrics-server registered (v1beta1.metrics.k8s.io Available)")
    result["traefik"] = traefik_up(ctx, layout)
    ctx.log(f"node: Traefik serving ingress class {INGRESS_CLASS} at {result['traefik']['url']} "
            f"(add-ons in {time.monotonic() - t:.1f}s)")
    return result


def down(ctx: ClusterContext, layout: NodeLayout) -> list[str]:
    """The add-ons' processes are stopped by node_cleanup.remove_node; their API objects go with etcd."""
    return []

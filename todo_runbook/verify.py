"""Verify the deployment against the success criteria, measuring everything it claims.

Order matters: pods and services first (cheap facts), HTTPS at the ingress, then the user path (signup + chat
turn, the chat UI in a browser over that HTTPS), latency, the rolling update with a client looping, and last
the pod kill. CPU/memory are sampled in the background across all of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import browser, registry, shell, startup_phases
from .certs import local_ca_cert
from .config import RunbookConfig
from .diagnosis import Diagnosis, diagnose
from .errors import StepFailedError, error_dict
from .httpcheck import AppClient, ChatCheck, HttpCheck, HttpsRoute, LatencyResult, LoopStats, connect
from .kube import (
    COMPONENT_LABEL,
    INSTANCE_LABEL,
    Kube,
    PodReport,
    ServiceReport,
    app_pods,
    is_ready,
    pod_report,
    service_report,
)
from .metrics import MetricsSampler, ResourceReport
from .progress import Progress
from .providers import ClusterTarget, api_client
from .registry_push import DigestReport, match_digests
from .timing import Timer, iso_now
from .tls import TlsCheck, check_release, https_session, https_url


@dataclass
class RollingResult:
    skipped: bool = False
    requests: int = 0
    failed: int | None = None
    seconds: float | None = None
    revision_before: int | None = None
    revision_after: int | None = None
    errors: list[str] = field(default_factory=list)
    detail: str = ""


@dataclass
class RecoveryResult:
    skipped: bool = False
    pod_killed: str = ""
    replacement: str = ""
    seconds: float | None = None
    data_kept: bool | None = None
    failed_requests: int | None = None
    requests: int = 0
    detail: str = ""


# This repository's own routes: the app checks (sign-up, a chat turn that adds a task, data kept) need all three.
APP_ROUTES = (("POST", "/api/auth/signup"), ("POST", "/api/chat"), ("GET", "/api/tasks"))


@dataclass
class AppChecks:
    """Whether this repository's app checks apply to the deployed backend, and why (not)."""

    applicable: bool
    reason: str
    probes: list[str] = field(default_factory=list)


def app_checks_for(client: AppClient) -> AppChecks:
    found = [(route, client.has_route(*route)) for route in APP_ROUTES]
    probes = [note for _, (_, note) in found]
    missing = [f"{method} {path}" for (method, path), (ok, _) in found if not ok]
    if missing:
        return AppChecks(False, f"not applicable: the backend does not serve {', '.join(missing)} (sign-up, chat "
                                "and task checks are this repository's app's; the generic checks still ran)", probes)
    return AppChecks(True, "the backend serves sign-up, chat and tasks", probes)


@dataclass
class VerifyResult:
    namespace: str
    release: str
    pods: list[PodReport] = field(default_factory=list)
    pods_final: list[PodReport] = field(default_factory=list)
    services: list[ServiceReport] = field(default_factory=list)
    access: str = ""
    access_note: str = ""
    http: list[HttpCheck] = field(default_factory=list)
    app_checks: AppChecks | None = None
    chat: ChatCheck | None = None
    browser: browser.BrowserResult | None = None
    latency: LatencyResult | None = None
    tls: TlsCheck | None = None
    rolling: RollingResult | None = None
    recovery: RecoveryResult | None = None
    resources: ResourceReport | None = None
    diagnosis: Diagnosis | None = None
    # the registry path only: each container's image ID against the digest the load step pushed
    registry_images: DigestReport | None = None
    started_at: str = ""
    error: dict[str, str] | None = None
    commands: list[dict[str, str]] = field(default_factory=list)


def _selector(config: RunbookConfig, component: str = "") -> str:
    sel = f"{INSTANCE_LABEL}={config.release}"
    return f"{sel},{COMPONENT_LABEL}={component}" if component else sel


def wait_pods_ready(kube: Kube, config: RunbookConfig, timeout: float = 120) -> list[Mapping[str, Any]]:
    """The release's serving pods once all are Ready (or whatever they are at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        pods = app_pods(kube.pods(config.namespace, _selector(config)))
        if (pods and all(is_ready(p) for p in pods)) or time.monotonic() > deadline:
            return pods
        time.sleep(2)


def _services(kube: Kube, config: RunbookConfig) -> tuple[list[ServiceReport], dict[str, tuple[str, int]]]:
    reports, by_component = [], {}
    for svc in kube.services(config.namespace, _selector(config)):
        name = svc["metadata"]["name"]
        reports.append(service_report(svc, kube.endpoints(config.namespace, name)))
        component = (svc["metadata"].get("labels") or {}).get(COMPONENT_LABEL, "")
        if component in ("backend", "frontend"):
            by_component[component] = (name, svc["spec"]["ports"][0]["port"])
    return reports, by_component


def loop_path(config: RunbookConfig, client: AppClient) -> str:
    """What the client loops on while pods roll or die: the task list when signed in, else readiness."""
    # The ingress sends /api/... to the backend, and the probe paths too (the chart's ingress-probes routes).
    return "/api/tasks" if client.token else config.backend_ready_path


def rolling_update(target: ClusterTarget, config: RunbookConfig, client: AppClient) -> RollingResult:
    """helm upgrade that only changes a pod annotation (so every pod rolls) while a client loops."""
    from .deploy import helm_status

    before = (helm_status(target, config) or {}).get("version")
    stop, stats = threading.Event(), LoopStats()
    path = loop_path(config, client)
    loop = threading.Thread(target=client.loop, args=(path, stop, stats), daemon=True)
    argv = target.helm("upgrade", config.release, str(config.path(config.chart)), "-n", config.namespace,
                       "--reuse-values", "--set-string", f"backend.podAnnotations.rolledAt={int(time.time())}",
                       "--set-string", f"frontend.podAnnotations.rolledAt={int(time.time())}",
                       "--wait", "--timeout", f"{config.deploy_timeout_s}s")
    loop.start()
    time.sleep(1)
    try:
        with Timer() as timer:
            res = shell.run(argv, timeout=config.deploy_timeout_s + 60)
        time.sleep(config.metrics_interval_s)  # keep the client going while old pods finish terminating
    finally:
        stop.set()
        loop.join(timeout=15)
    after = (helm_status(target, config) or {}).get("version")
    via = ("; through a port-forward, which is pinned to one pod: failures there do not mean the app dropped "
           "requests, use an ingress for this check") if client.access == "port-forward" else ""
    return RollingResult(False, stats.requests, stats.failed, timer.seconds, before, after, stats.errors,
                         f"{res.command}; client looped GET {path} every 50 ms{via}")


def kill_backend_pod(kube: Kube, config: RunbookConfig, client: AppClient, expect_task: str) -> RecoveryResult:
    pods = [p for p in app_pods(kube.pods(config.namespace, _selector(config, "backend"))) if is_ready(p)]
    if not pods:
        return RecoveryResult(skipped=True, detail="no Ready backend pod to kill")
    victim = pods[0]["metadata"]["name"]
    old_names = {p["metadata"]["name"] for p in pods}
    stop, stats = threading.Event(), LoopStats()
    loop = threading.Thread(target=client.loop, args=(loop_path(config, client), stop, stats), daemon=True)
    loop.start()
    timer = Timer().start()
    kube.core.delete_namespaced_pod(victim, config.namespace)
    replacement = ""
    try:
        while timer.elapsed < config.deploy_timeout_s:
            current = app_pods(kube.pods(config.namespace, _selector(config, "backend")))
            fresh = [p for p in current if p["metadata"]["name"] not in old_names and is_ready(p)]
            ready = [p for p in current if is_ready(p)]
            if fresh and len(ready) >= config.backend_replicas:
                replacement = fresh[0]["metadata"]["name"]
                break
            time.sleep(0.5)
        timer.stop()
    finally:
        stop.set()
        loop.join(timeout=15)
    if not replacement:
        return RecoveryResult(False, victim, "", None, None, stats.failed, stats.requests,
                              f"no replacement Ready within {config.deploy_timeout_s} s")
    if not client.token:  # no app checks: recovery is measured, data kept is not applicable
        return RecoveryResult(False, victim, replacement, timer.seconds, None, stats.failed, stats.requests,
                              f"kubectl delete pod {victim}; data kept: not applicable (no task routes)")
    titles = [str(t.get("title", "")).lower() for t in client.tasks()]
    kept = any(expect_task in t for t in titles)
    return RecoveryResult(False, victim, replacement, timer.seconds, kept, stats.failed, stats.requests,
                          f"kubectl delete pod {victim}; tasks after recovery: {len(titles)}")


def https_route(https_base: str, host: str) -> HttpsRoute | None:
    """The ingress over HTTPS trusting the run's CA, for an Ingress that redirects plain HTTP (None: no address
    or no CA yet, so plain HTTP or a port-forward it is)."""
    ca_file = local_ca_cert()
    if not https_base or not ca_file.is_file():
        return None
    return HttpsRoute(https_base, lambda: https_session(https_base, host, ca_file))


def curl_reach(client: AppClient, host: str) -> tuple[str, str]:
    """(curl options, base URL) that reach the app the way `client` does: a Host header; over HTTPS the
    host's own URL, resolved to the ingress address, trusting the run's CA."""
    if client.access != "ingress":
        return "", client.api_base
    if client.api_base.startswith("https://"):
        parts = urlsplit(client.api_base)
        port = parts.port or 443
        return (f" --cacert {local_ca_cert()} --resolve {host}:{port}:{parts.hostname}",
                f"https://{host}" + (f":{port}" if port != 443 else ""))
    return f" -H 'Host: {host}'", client.api_base


def verify(target: ClusterTarget, config: RunbookConfig, progress: Progress = lambda _: None,
           browser_dir: Path | None = None, pushed: Mapping[str, str] | None = None) -> VerifyResult:
    """`pushed` (image reference -> digest, from the load step on the registry path): the pods must run those."""
    kube = Kube(api_client(target))
    result = VerifyResult(namespace=config.namespace, release=config.release, started_at=iso_now())
    if pushed and config.registry:
        result.registry_images = DigestReport(registry.parse(config.registry).base)
    ns = config.namespace
    result.commands += [
        shell.recorded(shell.command_line(target.kubectl("-n", ns, "get", "pods", "-o", "wide")), "pods and restarts"),
        shell.recorded(shell.command_line(target.kubectl("-n", ns, "get", "svc,endpoints,ingress")),
                       "services, endpoints, ingress"),
    ]
    sampler = MetricsSampler(kube, ns, config.metrics_interval_s).start()
    client: AppClient | None = None
    try:
        progress("waiting for the release's pods to be Ready")
        pods = wait_pods_ready(kube, config)
        result.pods = [pod_report(p) for p in pods]
        extra = startup_phases.observe(kube, ns, pods)
        for pod in result.pods:
            pod.phases = startup_phases.merged(pod.phases, extra.get(pod.name, {}))
        if not pods:
            raise StepFailedError(f"no pods of release '{config.release}' in namespace '{ns}'",
                                  "run the deploy step first (03-deploy) or check -p release / -p namespace")
        if result.registry_images is not None and pushed:
            result.registry_images = match_digests(result.registry_images.registry,
                                                   kube.pods(ns, _selector(config)), pushed)
            progress(f"image IDs against the pushed digests: {result.registry_images.all_match}")
        result.services, services = _services(kube, config)
        progress("connecting over HTTP (ingress with Host header, else port-forward)")
        try:
            published = kube.ingress_addresses(ns, _selector(config))
        except Exception:  # no networking API permissions or no Ingress: the port-forward still works
            published = []
        health, ready = config.backend_health_path, config.backend_ready_path
        https_base = https_url(config.ingress_https_url or target.ingress_https_url, target.ingress_url)
        client = connect(target, ns, config.ingress_host, services, published, health_path=health,
                         https=https_route(https_base, config.ingress_host))
        result.access, result.access_note = client.access, client.access_note
        host, curl_base = curl_reach(client, config.ingress_host)
        result.commands.append(shell.recorded(f"curl -s{host} {curl_base}{health}", "backend health"))
        result.http = [client.check("frontend page", client.front_base, "/")]
        if "/healthz" not in (health, ready):  # else the ingress sends /healthz to the backend's probe route
            result.http.append(client.check("frontend /healthz", client.front_base, "/healthz"))
        result.http += [client.check(f"backend {health}", client.api_base, health),
                        client.check(f"backend {ready}", client.api_base, ready)]
        # HTTPS before the browser: the browser goes to the address this check used, trusting the CA it used
        progress("checking https://" + config.ingress_host + " with the local CA (tls.py)")
        result.tls = check_release(kube, config, _selector(config), https_base,
                                   client.plain_base or target.ingress_url, health)
        result.commands += result.tls.commands
        result.app_checks = app_checks_for(client)
        if result.app_checks.applicable:
            progress("signing up and sending a chat turn that adds a task")
            client.signup()
            result.chat = client.chat_turn()
            result.commands.append(shell.recorded(
                f"curl -s{host} -X POST {curl_base}/api/chat -H 'Authorization: Bearer $TOKEN' "
                f"-H 'Content-Type: application/json' -d '{{\"message\": \"{result.chat.prompt}\"}}'",
                "one chat turn"))
            goes = browser.ingress_target(client.front_base, https_base, result.tls.enabled, result.tls.ca_file,
                                          result.tls.detail or result.tls.reason)
            progress(f"the chat UI in headless Chromium at "
                     f"{browser.page_url(config.ingress_host, goes.base or client.front_base)} through the ingress")
            result.browser = browser.check_through_ingress(config.ingress_host, client.access, goes.base, browser_dir,
                                                           client.access_note, ca_file=goes.ca_file,
                                                           transport=goes.transport)
        else:
            progress(f"app checks: {result.app_checks.reason}")
        progress(f"timing {config.health_requests} GET {health}")
        result.latency = client.latency(health, config.health_requests)
        if config.rolling_update:
            progress("rolling update (helm upgrade) while a client loops on /api/tasks")
            result.rolling = rolling_update(target, config, client)
            result.commands.append(shell.recorded(result.rolling.detail.split(";")[0], "rolling update"))
        else:
            result.rolling = RollingResult(skipped=True, detail="rolling_update=false")
        if config.kill_pod:
            progress("deleting a backend pod and timing its replacement")
            result.recovery = kill_backend_pod(kube, config, client, "milk")
            result.commands.append(shell.recorded(
                shell.command_line(target.kubectl("-n", ns, "delete", "pod", result.recovery.pod_killed or "POD")),
                "kill a backend pod"))
        else:
            result.recovery = RecoveryResult(skipped=True, detail="kill_pod=false")
        # `pods` keeps the deploy's pods (a cold start: the criterion); these serve after the roll and the kill.
        result.pods_final = [pod_report(p) for p in wait_pods_ready(kube, config, timeout=60)]
    except Exception as exc:
        # Keep what was measured; the evidence shows where it stopped and why.
        result.error = error_dict(exc)
    finally:
        result.resources = sampler.stop()
        for pod in [*result.pods, *result.pods_final]:
            result.resources.declared.update({f"{pod.name}/{c}": r for c, r in pod.resources.items()})
        try:
            raw_pods = kube.pods(ns, _selector(config))
            metrics = kube.pod_metrics(ns) if result.resources.available else []
            result.diagnosis = diagnose(ns, raw_pods, kube.events(ns), metrics)
        except Exception as exc:  # diagnosis must not hide the real error
            result.diagnosis = Diagnosis(namespace=ns)
            progress(f"diagnosis unavailable: {exc}")
        if client:
            client.close()
        kube.close()
    return result

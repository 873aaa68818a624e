"""The success-criteria table: what was measured, against which threshold, pass or fail.

A criterion whose step ran but produced no measurement is "not measured" and fails: a claim
without a figure is not evidence. Criteria of steps that were not part of the run are listed as
"not in this run" and do not fail it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .config import RunbookConfig

PASS, FAIL, NOT_MEASURED, NOT_RUN = "pass", "fail", "not measured", "not in this run"
NOT_APPLICABLE = "not applicable"
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {"<": operator.lt, "<=": operator.le, "==": operator.eq}


@dataclass
class Criterion:
    key: str
    description: str
    step: str
    measured: float | bool | None
    threshold: float | bool
    comparison: str
    unit: str
    how: str
    status: str = NOT_MEASURED
    reason: str = ""

    @property
    def failed(self) -> bool:
        return self.status in (FAIL, NOT_MEASURED)


@dataclass
class _Spec:
    key: str
    description: str
    step: str
    comparison: str
    unit: str
    how: str
    threshold: Callable[[RunbookConfig], float | bool]
    extract: Callable[[Mapping[str, Any]], float | bool | None]
    # why the criterion does not apply to this app (None: it applies)
    not_applicable: Callable[[Mapping[str, Any]], str | None] = lambda r: None
    # why it was not measured or failed, from the evidence (None: nothing to add)
    explain: Callable[[Mapping[str, Any]], str | None] = lambda r: None
    # the evidence file it is measured from, when not the step's own (the demo video is made after teardown)
    evidence: str = ""
    # how this run took the figure, from the evidence: added to `how` whatever the status
    measured_how: Callable[[Mapping[str, Any]], str | None] = lambda r: None


def _dig(data: Mapping[str, Any] | None, *path: str | int) -> Any:
    cur: Any = data
    for key in path:
        if isinstance(cur, Mapping):
            cur = cur.get(key)
        elif isinstance(cur, list) and isinstance(key, int) and -len(cur) <= key < len(cur):
            cur = cur[key]
        else:
            return None
    return cur


def _number(value: Any) -> float | None:
    """A figure from the evidence JSON (an int or a float there)."""
    return None if value is None else float(value)


def _image_size(component: str) -> Callable[[Mapping[str, Any]], float | None]:
    def extract(result: Mapping[str, Any]) -> float | None:
        for image in result.get("images", []):
            if image.get("component") == component:
                return _number(image.get("size_mb"))
        return None
    return extract


def _smoke_ok(result: Mapping[str, Any]) -> bool | None:
    smokes = [img.get("smoke") for img in result.get("images", [])]
    if len(smokes) < 2 or any(s is None or s.get("skipped") for s in smokes):
        return None
    return all(s.get("ok") for s in smokes)


def _smoke_not_applicable(result: Mapping[str, Any]) -> str | None:
    """smoke_run=false turned the check off on purpose (e.g. `make bench`, whose raw side starts no container)."""
    smokes = [img.get("smoke") or {} for img in result.get("images", [])]
    if smokes and all(s.get("skipped") and s.get("detail") == "smoke_run=false" for s in smokes):
        return "not applicable: smoke_run=false, so the build started no container"
    return None


def _max_pod_start(result: Mapping[str, Any]) -> float | None:
    ready = [_dig(p, "phases", "ready") for p in result.get("pods", [])]
    ready = [r for r in ready if r is not None]
    return max(ready) if ready and len(ready) == len(result.get("pods", [])) else None


def _pods_ready(result: Mapping[str, Any]) -> bool | None:
    pods = result.get("pods")
    if not pods:
        return None
    return all(p.get("ready") for p in pods)


def _recovery(result: Mapping[str, Any]) -> float | None:
    rec = result.get("recovery") or {}
    if rec.get("skipped") or rec.get("seconds") is None:
        return None
    return _number(rec["seconds"])


def _app_only(result: Mapping[str, Any]) -> str | None:
    """This repository's app checks do not apply to a backend without its routes (a user's own Phase III app)."""
    return _dig(result, "app_checks", "reason") if _dig(result, "app_checks", "applicable") is False else None


def _tls_off(result: Mapping[str, Any]) -> str | None:
    """HTTPS criteria apply when the deployed Ingress has a tls section (the dev profile's default)."""
    tls = result.get("tls")
    return str(tls.get("reason") or "ingress.tls.enabled=false") if tls and tls.get("enabled") is False else None


def _reached(result: Mapping[str, Any]) -> str | None:
    """How verify reached the app: a latency through a port-forward skips the ingress, so it says so."""
    access, note = result.get("access"), result.get("access_note") or ""
    if access == "ingress":
        return f"through the ingress with the Host header ({note})" if note else "through the ingress"
    if access == "port-forward":
        return f"through a kubectl port-forward, not the ingress ({note})" if note else "through a kubectl port-forward"
    return None


def _faults_diagnosed(result: Mapping[str, Any]) -> float | None:
    scratch = result.get("faults") or {}
    injected = scratch.get("injected") or 0
    return round(scratch.get("diagnosed", 0) / injected, 3) if injected else None


def _sbom_complete(result: Mapping[str, Any]) -> bool | None:
    sbom = result.get("sbom") or {}
    if not sbom.get("attempted"):
        return None
    images = sbom.get("images") or []
    return bool(images) and all(i.get("generated") and i.get("package_count") for i in images)


def _sbom_not_applicable(result: Mapping[str, Any]) -> str | None:
    """No syft here (or sbom=false): the reason and the install command, never a pass."""
    sbom = result.get("sbom")
    if not sbom or sbom.get("attempted"):
        return None
    install = sbom.get("install_command")
    return str(sbom.get("reason")) + (f"; install: {install}" if install else "")


def _fixable_critical(result: Mapping[str, Any]) -> float | None:
    scan = _dig(result, "sbom", "scan") or {}
    if not scan.get("scanned"):
        return None
    return float(sum(i.get("fixable_critical") or 0 for i in scan.get("images") or []))


def _scan_not_applicable(result: Mapping[str, Any]) -> str | None:
    """No vulnerability database configured: "not scanned" with the command to get one."""
    scan = _dig(result, "sbom", "scan")
    if not scan or scan.get("applicable"):
        return None
    return str(scan.get("reason")) + (f"; {scan['command']}" if scan.get("command") else "")


def _digests_match(result: Mapping[str, Any]) -> bool | None:
    containers = _dig(result, "registry_images", "containers")
    return all(c.get("matches") for c in containers) if containers else None


def _loaded_not_pushed(result: Mapping[str, Any]) -> str | None:
    if result.get("registry_images") is None:
        return "not applicable: the images were loaded into the nodes, not pushed to a registry (registry is empty)"
    return None


SPECS: list[_Spec] = [
    _Spec("frontend_image_mb", "frontend image size", "build", "<", "MB", "docker image inspect: Size",
          lambda c: c.max_frontend_image_mb, _image_size("frontend")),
    _Spec("backend_image_mb", "backend image size", "build", "<", "MB", "docker image inspect: Size",
          lambda c: c.max_backend_image_mb, _image_size("backend")),
    _Spec("containers_smoke_run", "each built container starts and answers its probe", "build", "==", "",
          "docker run + HTTP probe", lambda c: True, _smoke_ok, _smoke_not_applicable),
    _Spec("sbom_generated", "an SBOM (SPDX JSON) lists the packages of each built image", "build", "==", "",
          "syft scan docker:<image> -o spdx-json", lambda c: True, _sbom_complete, _sbom_not_applicable),
    _Spec("critical_vulnerabilities", "critical vulnerabilities with a fix available in the built images", "build",
          "<=", "", "grype/trivy on the SBOMs with the local vulnerability database (vuln_db)",
          lambda c: c.max_critical_vulnerabilities, _fixable_critical, _scan_not_applicable),
    _Spec("deploy_s", "deployment time (helm upgrade --install --wait)", "deploy", "<", "s",
          "wall time of the helm command", lambda c: c.max_deploy_s, lambda r: r.get("seconds")),
    _Spec("pods_ready", "all pods Ready", "verify", "==", "", "pod conditions",
          lambda c: True, _pods_ready),
    _Spec("pod_start_s", "slowest pod start (created -> Ready)", "verify", "<", "s",
          "pod conditions lastTransitionTime - creationTimestamp", lambda c: c.max_pod_start_s, _max_pod_start),
    _Spec("pods_run_pushed_digests", "the pods run the digests pushed to the registry", "verify", "==", "",
          "pod status imageID against the digest the registry returned for the push", lambda c: True,
          _digests_match, _loaded_not_pushed),
    _Spec("ingress_reachable", "the app answers at its host through the ingress (not a port-forward)", "verify",
          "==", "", "GET /health with the Host header at the ingress address", lambda c: True,
          lambda r: None if not r.get("access") else r.get("access") == "ingress"),
    _Spec("health_p95_ms", "/health latency p95 (through the ingress, or the labelled port-forward)", "verify",
          "<", "ms",
          "timed HTTP GETs", lambda c: c.max_health_p95_ms, lambda r: _dig(r, "latency", "p95_ms"),
          measured_how=_reached),
    _Spec("https_verified", "https://<host> verified against the run's local CA; plain HTTP as the values say",
          "verify", "==", "", "TLS handshake (chain + host name), GET /health over HTTPS, plain GET without redirects",
          lambda c: True, lambda r: _dig(r, "tls", "verified"), _tls_off),
    _Spec("https_health_p95_ms", "/health latency p95 over HTTPS through the ingress", "verify", "<", "ms",
          "timed HTTPS GETs with the local CA", lambda c: c.max_health_p95_ms,
          lambda r: _dig(r, "tls", "latency", "p95_ms"), _tls_off),
    _Spec("chat_adds_task", "a chat turn adds a task that the task list shows", "verify", "==", "",
          "signup, POST chat, GET tasks", lambda c: True, lambda r: _dig(r, "chat", "task_added"), _app_only),
    _Spec("browser_chat_ui", "the chat UI works through the ingress in a real browser", "verify", "==", "",
          "headless Chromium at https://<ingress host> with the run's CA only (http:// when the Ingress has no TLS): "
          "sign up, chat, the task appears (screenshots)",
          lambda c: True, lambda r: _dig(r, "browser", "task_shown"), _app_only,
          lambda r: " ".join(filter(None, [_dig(r, "browser", "reason"), _dig(r, "browser", "install")])) or None),
    _Spec("rolling_failed_requests", "failed requests during a rolling update", "verify", "<=", "requests",
          "client loop on /api/tasks during helm upgrade", lambda c: c.max_failed_requests_rolling,
          lambda r: None if _dig(r, "rolling", "skipped") else _dig(r, "rolling", "failed")),
    _Spec("recovery_s", "killed backend pod replaced and Ready", "verify", "<", "s",
          "delete pod, watch deployment", lambda c: c.max_recovery_s, _recovery),
    _Spec("data_kept", "tasks survive the pod kill", "verify", "==", "", "GET tasks after recovery",
          lambda c: True, lambda r: None if _dig(r, "recovery", "skipped") else _dig(r, "recovery", "data_kept"),
          _app_only),
    _Spec("ai_tool_answered", "AI operations tool answered", "aiops", "==", "",
          "an AI tool ran kubectl on the cluster and gave a final answer (transcripts)", lambda c: True,
          lambda r: r.get("ai_answered")),
    _Spec("faults_diagnosed", "injected faults diagnosed (n of n)", "aiops", "==", "of injected",
          "built-in diagnosis of the scratch namespace", lambda c: 1.0, _faults_diagnosed),
    _Spec("teardown_clean", "nothing of the release left after teardown", "teardown", "==", "",
          "helm list + labelled objects + namespace", lambda c: True, lambda r: r.get("nothing_left")),
    _Spec("demo_video_s", "demo video made by the run (after teardown)", "teardown", "<", "s",
          "ffprobe duration of demo.mp4 (H.264) assembled from this run's frames", lambda c: c.max_demo_video_s,
          lambda r: r.get("seconds"), explain=lambda r: " ".join(filter(None, [r.get("reason"), r.get("install")]))
          or None, evidence="video"),
]


def evaluate(config: RunbookConfig, evidence: Mapping[str, Mapping[str, Any]], steps_run: list[str]) -> list[Criterion]:
    """Build the criteria table from the evidence store's contents ({step: payload})."""
    table = []
    for spec in SPECS:
        threshold = spec.threshold(config)
        crit = Criterion(spec.key, spec.description, spec.step, None, threshold, spec.comparison, spec.unit, spec.how)
        if spec.step not in steps_run:
            crit.status = NOT_RUN
        else:
            payload = evidence.get(spec.evidence or spec.step) or {}
            # A failed step may still have measured something before it stopped; use what is there.
            result = payload.get("result") or {}
            measured = spec.extract(result)
            crit.measured = measured
            why_not = spec.not_applicable(result)
            if why_not:
                crit.status, crit.reason = NOT_APPLICABLE, why_not
            elif measured is None:
                crit.status = NOT_MEASURED
            else:
                crit.status = PASS if _COMPARE[spec.comparison](measured, threshold) else FAIL
            if crit.status != PASS and not crit.reason:
                crit.reason = spec.explain(result) or ""
            how_this_time = spec.measured_how(result)
            if how_this_time:
                crit.how = f"{spec.how} {how_this_time}"
        table.append(crit)
    return table


def all_passed(table: list[Criterion]) -> bool:
    return not any(c.failed for c in table)

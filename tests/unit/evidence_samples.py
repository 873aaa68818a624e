"""Realistic step results, shaped as the step functions record them (evidence/<step>.json 'result')."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def build() -> dict[str, Any]:
    def image(component: str, size: float, seconds: float, hits: int) -> dict[str, Any]:
        return {"component": component, "image": f"todo-{component}", "tag": "3f2a9c1d0b7e",
                "ref": f"todo-{component}:3f2a9c1d0b7e", "image_id": "sha256:3f2a9c1d0b7e", "size_mb": size,
                "layers": 11, "seconds": seconds, "steps": 25, "cache_hits": hits,
                "base_images": {"PYTHON_IMAGE": "todo-runbook/base-python:3.11-bookworm"}, "base_source": "offline",
                "user": "10001:10001", "command": f"docker build -f dockerfiles/{component}.Dockerfile ...",
                "smoke": {"ok": True, "probe": "GET /health", "seconds": 1.4, "detail": "answered 200",
                          "skipped": False}}
    return {"images": [image("backend", 272.4, 81.2, 3), image("frontend", 219.9, 140.5, 0)], "engine": "20.10.24",
            "bases_built": [], "commands": [{"purpose": "build the backend image", "command": "docker build ...",
                                             "at": "2026-11-26T09:00:00+00:00"}],
            "sbom": sbom()}


def sbom(fixable_critical: int | None = 0) -> dict[str, Any]:
    """Two SBOMs; scanned with grype (None: no database, not scanned)."""
    def image(component: str, by_type: dict[str, int]) -> dict[str, Any]:
        return {"component": component, "image": f"todo-{component}:3f2a9c1d0b7e", "generated": True,
                "path": f"sbom/todo-{component}.spdx.json", "format": "SPDX-2.3 JSON",
                "package_count": sum(by_type.values()), "by_type": by_type,
                "largest": [{"name": "libc6", "version": "2.36-9", "type": "deb", "bytes": 12_988_416}],
                "unsized": 0, "seconds": 9.5, "detail": ""}
    return {"attempted": True, "reason": "", "tool": "syft v1.57.2 (/cache/clis/syft-v1.57.2/syft)",
            "install_command": "go install ...", "images": [image("backend", {"deb": 92, "python": 61}),
                                                          image("frontend", {"deb": 95, "npm": 24})],
            "scan": {"applicable": False, "scanned": False, "reason": "not scanned: no vulnerability database",
                     "scanner": "", "database": "", "command": "grype db update ...", "images": []}
            if fixable_critical is None else
            {"applicable": True, "scanned": True, "reason": "", "scanner": "grype", "database": "/db/grype",
             "command": "grype sbom:...", "images": [
                 {"component": "backend", "by_severity": {"critical": 1 + fixable_critical, "high": 4}, "total": 5,
                  "fixable_critical": fixable_critical, "worst": []}]},
            "commands": []}


def deploy(seconds: float = 48.3) -> dict[str, Any]:
    return {"release": "todo", "namespace": "todo", "chart": "helm/todo-app", "revision": 1, "status": "deployed",
            "seconds": seconds, "images": {}, "values": {"secrets": {"jwtSecret": "****"}}, "values_files": [],
            "command": "helm upgrade --install todo helm/todo-app", "commands": [
                {"purpose": "install", "command": "helm upgrade --install todo helm/todo-app -n todo --wait",
                 "at": "2026-11-26T09:01:00+00:00"}]}


def verify(p95: float = 12.5, failed: int = 0) -> dict[str, Any]:
    pod = json.loads((FIXTURES / "pod_ready_backend.json").read_text())
    from todo_runbook.evidence import to_jsonable
    from todo_runbook.kube import pod_report

    report = to_jsonable(pod_report(pod))
    frontend = copy.deepcopy(report) | {"name": "todo-frontend-1", "component": "frontend"}
    samples = [round(5 + (i % 17) * 0.7, 2) for i in range(300)]
    return {
        "namespace": "todo", "release": "todo", "pods": [report, frontend], "services": [],
        "access": "ingress", "access_note": "GET http://127.0.0.1:30080/api/health -> 200",
        "http": [{"name": "backend /api/health", "url": "http://127.0.0.1:30080/api/health", "status": 200,
                  "ok": True, "ms": 4.1, "detail": "{}"}],
        "chat": {"ok": True, "task_added": True, "prompt": "add buy milk tomorrow", "reply": "Added: buy milk",
                 "mode": "local", "tool_calls": ["add_task"], "tasks": ["buy milk"], "detail": ""},
        "browser": browser(),
        "latency": {"path": "/api/health", "count": 300, "failures": 0, "p50_ms": 8.0, "p95_ms": p95, "p99_ms": 15.0,
                    "max_ms": 16.2, "mean_ms": 8.6, "samples_ms": samples},
        "tls": tls(p95=p95),
        "rolling": {"skipped": False, "requests": 412, "failed": failed, "seconds": 31.0, "revision_before": 1,
                    "revision_after": 2, "errors": [], "detail": "helm upgrade ..."},
        "recovery": {"skipped": False, "pod_killed": "todo-backend-a", "replacement": "todo-backend-b",
                     "seconds": 7.5, "data_kept": True, "failed_requests": 0, "requests": 80, "detail": ""},
        "resources": {"available": True, "detail": "4 samples", "interval_s": 5.0, "samples": [
            {"t": t, "pod": "todo-backend-1", "container": "backend", "cpu_cores": 0.01 * (i + 1),
             "memory_bytes": 90e6 + i * 1e6} for i, t in enumerate([0.0, 5.0, 10.0, 15.0])],
            "declared": {"todo-backend-1/backend": {"requests": {"cpu": "250m", "memory": "256Mi"},
                                                    "limits": {"cpu": "500m", "memory": "512Mi"}}}},
        "diagnosis": {"namespace": "todo", "findings": [], "pods_examined": 2, "events_examined": 10},
        # a run on the registry path: each container's image ID against the pushed digest
        "registry_images": {"registry": "127.0.0.1:5443/todo", "containers": [
            {"pod": "todo-backend-1", "container": "backend", "image": "127.0.0.1:5443/todo/todo-backend:abc",
             "image_id": "127.0.0.1:5443/todo/todo-backend@sha256:" + "a" * 64,
             "pushed_digest": "sha256:" + "a" * 64, "matches": True}]},
        "started_at": "2026-11-26T09:02:00+00:00", "error": None,
        "commands": [{"purpose": "pods", "command": "kubectl -n todo get pods", "at": "2026-11-26T09:02:00+00:00"}],
    }


def browser(task_shown: bool | None = True, reason: str = "", install: str = "") -> dict[str, Any]:
    """The verify step's browser check as recorded (screenshot files are the test's to create)."""
    return {"task_shown": task_shown, "url": "http://todo.local/", "host_rule": "MAP todo.local 127.0.0.1:30080",
            "browser": "Chromium 156.0.8078.114", "prompt": "add buy milk tomorrow", "expect": "buy milk",
            "steps": [], "screenshots": [], "page_text": "", "reason": reason, "install": install, "seconds": 9.5}


def video(seconds: float | None = 36.0, reason: str = "", install: str = "") -> dict[str, Any]:
    return {"made": seconds is not None, "path": "demo.mp4" if seconds else "", "preview": "demo-preview.gif",
            "seconds": seconds, "frames": int(seconds * 10) if seconds else None, "codec": "h264",
            "pix_fmt": "yuv420p", "width": 1280, "height": 720, "seconds_per_frame": 4.0, "sources": [],
            "reason": reason, "install": install, "commands": []}


def tls(p95: float = 14.0, verified: bool = True, enabled: bool = True) -> dict[str, Any]:
    """A TLS check as todo_runbook.tls.TlsCheck records it (public certificate facts only)."""
    if not enabled:
        return {"enabled": False, "reason": "not applicable: the Ingress has no tls section", "verified": None}
    return {"enabled": True, "reason": "", "url": "https://todo.local/api/health", "host": "todo.local",
            "ca_file": "/cache/tls/ca.crt", "chain_verified": verified, "tls_version": "TLSv1.3",
            "cipher": "TLS_AES_128_GCM_SHA256",
            "certificate": {"subject": "CN=todo.local", "issuer": "CN=todo-runbook local CA", "hosts": ["todo.local"],
                            "not_after": "2027-12-31T00:00:00+00:00", "sha256": "ab" * 32},
            "health_status": 200,
            "latency": {"path": "/api/health", "count": 300, "failures": 0, "p50_ms": 9.0, "p95_ms": p95,
                        "p99_ms": 17.0, "max_ms": 18.0, "mean_ms": 9.5, "samples_ms": [9.0, 10.0]},
            "plain_http": {"expected": "served", "observed": "served", "ok": True, "status": 200, "location": "",
                           "detail": "GET http://127.0.0.1:18080/api/health (Host: todo.local) -> 200"},
            "detail": "", "verified": verified, "commands": []}


def teardown(nothing_left: bool = True) -> dict[str, Any]:
    return {"release": "todo", "namespace": "todo", "uninstalled": True, "namespace_deleted": True, "seconds": 12.0,
            "images_removed": [], "cluster_stopped": False,
            "leftovers": [] if nothing_left else ["namespace todo (Terminating)"], "nothing_left": nothing_left,
            "commands": []}


def aiops(answered: bool = True, diagnosed: int = 5) -> dict[str, Any]:
    """An AIOps result as recorded: one agent answer with its kubectl call, five injected faults."""
    call = {"command": "kubectl --kubeconfig /k --context tb get pods -n todo -o wide", "exit_code": 0,
            "refused": "", "seconds": 0.2, "output": "NAME READY STATUS\ntodo-backend-1 1/1 Running"}
    run = {"tool": "kagent", "group": "status", "prompt": "Show me all pods in todo namespace", "command": "curl ...",
           "outcome": "ok" if answered else "skipped: kagent not installed", "ran_at": "2026-11-26T09:30:00+00:00",
           "runner": "kagent-adk 0.10.4 agent runtime", "model": "model: offline rules, not an LLM",
           "answer": "[model: offline rules, not an LLM]\n- 1 row(s)" if answered else "",
           "tool_calls": [call] if answered else []}
    faults = [{"fault": f"f{i}", "what": f"fault {i}", "question": "why?", "diagnosed": i < diagnosed,
               "diagnosis": "image_pull: pod/x: ErrImagePull" if i < diagnosed else "not named", "remedy": "load it"}
              for i in range(5)]
    return {"runs": [run], "ai_answered": answered, "diagnosis": {"findings": []}, "commands": [],
            "faults": {"namespace": "todo-aiops-faults", "injected": 5, "diagnosed": diagnosed, "faults": faults,
                       "removed": True, "removal_proof": "404 NotFound"}}

"""HTTP against the deployed app: through the ingress with the Host header, or a port-forward.

Includes the real user path: sign up, one chat turn that adds a task, the task list.
"""

from __future__ import annotations

import re
import secrets
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from . import shell
from .errors import StepFailedError
from .providers import ClusterTarget
from .stats import summarize

CHAT_PROMPT = "add buy milk tomorrow"
CHAT_EXPECT = "milk"


@dataclass
class HttpCheck:
    name: str
    url: str
    status: int | None
    ok: bool
    ms: float | None
    detail: str = ""


@dataclass
class ChatCheck:
    ok: bool
    task_added: bool | None
    prompt: str = CHAT_PROMPT
    reply: str = ""
    mode: str = ""
    tool_calls: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    detail: str = ""


@dataclass
class LatencyResult:
    path: str
    count: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None
    samples_ms: list[float] = field(default_factory=list)


def timed_requests(path: str, count: int, send: Callable[[], requests.Response]) -> LatencyResult:
    """`count` requests in a row; the milliseconds of each one answered 200, the rest counted as failures."""
    samples, failures = [], 0
    for _ in range(count):
        t0 = time.monotonic()
        try:
            if send().status_code == 200:
                samples.append(round((time.monotonic() - t0) * 1000, 2))
            else:
                failures += 1
        except requests.RequestException:
            failures += 1
    if not samples:
        return LatencyResult(path, count, failures, None, None, None, None, None)
    s = summarize(samples)
    return LatencyResult(path, count, failures, s.p50, s.p95, s.p99, s.maximum, s.mean, samples)


@dataclass
class LoopStats:
    requests: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


SessionFactory = Callable[[], requests.Session]


@dataclass
class HttpsRoute:
    """The ingress over HTTPS: its address, and sessions that send SNI for the host and trust the run's CA."""

    base: str
    session: SessionFactory


class AppClient:
    """Speaks to the frontend and the backend (/api) of one release, with a Host header if needed.
    `plain_base` is the ingress's plain-HTTP address when it was reached (for the plain-HTTP check)."""

    def __init__(self, api_base: str, front_base: str, host: str = "", access: str = "ingress",
                 session_factory: SessionFactory = requests.Session, plain_base: str = "") -> None:
        self.api_base, self.front_base = api_base.rstrip("/"), front_base.rstrip("/")
        self.headers = {"Host": host} if host else {}
        self.access = access
        self.access_note = ""
        self.plain_base = plain_base
        self._session_factory = session_factory
        self.session = session_factory()
        self.token = ""
        self._forwards: list[shell.Background] = []

    def get(self, base: str, path: str, auth: bool = False, timeout: float = 10) -> requests.Response:
        return self.session.get(base + path, headers=self._headers(auth), timeout=timeout)

    def post(self, path: str, body: dict[str, Any], auth: bool = True, timeout: float = 60) -> requests.Response:
        return self.session.post(self.api_base + path, json=body, headers=self._headers(auth), timeout=timeout)

    def _headers(self, auth: bool) -> dict[str, str]:
        headers = dict(self.headers)
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def check(self, name: str, base: str, path: str) -> HttpCheck:
        url = base + path
        t0 = time.monotonic()
        try:
            resp = self.get(base, path)
            ms = round((time.monotonic() - t0) * 1000, 1)
            return HttpCheck(name, url, resp.status_code, resp.status_code == 200, ms, resp.text[:120])
        except requests.RequestException as exc:
            return HttpCheck(name, url, None, False, None, f"{exc.__class__.__name__}: {str(exc)[:160]}")

    def has_route(self, method: str, path: str) -> tuple[bool, str]:
        """Does the backend serve `method path`? An empty request answers 401/422 there, 404/405 elsewhere."""
        try:
            resp = self.session.request(method, self.api_base + path, json={} if method != "GET" else None,
                                        headers=self._headers(False), timeout=10)
        except requests.RequestException as exc:
            return False, f"{method} {path}: {exc.__class__.__name__}"
        return resp.status_code not in (404, 405), f"{method} {path} -> {resp.status_code}"

    def signup(self) -> str:
        email = f"runbook-{secrets.token_hex(4)}@example.com"
        password = secrets.token_urlsafe(16)
        shell.register_secret(password)
        resp = self.post("/api/auth/signup", {"email": email, "password": password}, auth=False)
        if resp.status_code not in (200, 201):
            raise StepFailedError(f"signup failed: HTTP {resp.status_code} {resp.text[:200]}",
                                  "check the backend logs (kubectl logs deploy/<release>-backend) and its database")
        body = resp.json()
        self.token = body.get("access_token") or body.get("token") or ""
        shell.register_secret(self.token)
        return email

    def tasks(self) -> list[dict[str, Any]]:
        resp = self.get(self.api_base, "/api/tasks", auth=True)
        if resp.status_code != 200:
            raise StepFailedError(f"GET /api/tasks answered HTTP {resp.status_code}: {resp.text[:300]}",
                                  "a 401 right after signup means the backends disagree on the user or the JWT "
                                  "secret (kubectl -n NAMESPACE logs deploy/RELEASE-todo-app-backend); a 5xx "
                                  "points at the database")
        body = resp.json()
        return body if isinstance(body, list) else body.get("tasks", [])

    def chat_turn(self, prompt: str = CHAT_PROMPT, expect: str = CHAT_EXPECT) -> ChatCheck:
        before = {t.get("id") for t in self.tasks()}
        resp = self.post("/api/chat", {"message": prompt})
        if resp.status_code != 200:
            return ChatCheck(False, False, prompt, detail=f"HTTP {resp.status_code}: {resp.text[:200]}")
        body = resp.json()
        after = self.tasks()
        new = [t for t in after if t.get("id") not in before]
        added = any(expect in str(t.get("title", "")).lower() for t in new)
        return ChatCheck(ok=True, task_added=added, prompt=prompt, reply=str(body.get("reply", ""))[:300],
                         mode=str(body.get("mode", "")),
                         tool_calls=[str(c.get("name")) for c in body.get("tool_calls") or []],
                         tasks=[str(t.get("title")) for t in after],
                         detail="" if added else f"no new task mentioning '{expect}' after the turn")

    def latency(self, path: str, count: int) -> LatencyResult:
        return timed_requests(path, count, lambda: self.get(self.api_base, path, timeout=5))

    def loop(self, path: str, stop: threading.Event, stats: LoopStats, pause: float = 0.05) -> None:
        """Request `path` until `stop` is set, counting failures (for the rolling update / pod kill)."""
        session = self._session_factory()  # its own connection pool: the main thread keeps using self.session
        while not stop.is_set():
            stats.requests += 1
            try:
                resp = session.get(self.api_base + path, headers=self._headers(bool(self.token)), timeout=5)
                if resp.status_code != 200:
                    stats.failed += 1
                    stats.errors.append(f"HTTP {resp.status_code}")
            except requests.RequestException as exc:
                stats.failed += 1
                stats.errors.append(exc.__class__.__name__)
            stop.wait(pause)
        stats.errors = stats.errors[-20:]

    def close(self) -> None:
        for fwd in self._forwards:
            fwd.stop()
        self.session.close()


REDIRECT_CODES = (301, 302, 307, 308)


@dataclass
class PlainAnswer:
    """What plain HTTP answered for `host`, redirects not followed."""

    seen: str  # served | redirect (to https://host: ingress.tls.redirectHttp) | other | refused
    status: int | None
    location: str
    detail: str


def plain_http_answer(base: str, host: str, path: str) -> PlainAnswer:
    request = f"GET {base}{path} (Host: {host})"
    try:
        resp = requests.get(base.rstrip("/") + path, headers={"Host": host}, timeout=5, allow_redirects=False)
    except requests.RequestException as exc:
        return PlainAnswer("refused", None, "", f"{request} -> {exc.__class__.__name__}")
    location = resp.headers.get("Location", "")
    if resp.status_code in REDIRECT_CODES and location.startswith(f"https://{host}"):
        seen = "redirect"
    else:
        seen = "served" if resp.status_code == 200 else "other"
    return PlainAnswer(seen, resp.status_code, location, f"{request} -> {resp.status_code}")


def _https_answers(https: HttpsRoute, path: str) -> tuple[bool, str]:
    session = https.session()
    try:
        resp = session.get(https.base.rstrip("/") + path, timeout=5)
        return resp.status_code == 200, f"GET {https.base}{path} (TLS, the run's CA) -> {resp.status_code}"
    except requests.RequestException as exc:
        return False, f"GET {https.base}{path} (TLS, the run's CA) -> {exc.__class__.__name__}: {str(exc)[:160]}"
    finally:
        session.close()


def port_forward(target: ClusterTarget, namespace: str, service: str, port: int) -> tuple[shell.Background, int]:
    bg = shell.start_background(target.kubectl("-n", namespace, "port-forward", f"svc/{service}", f":{port}"))
    deadline = time.monotonic() + 30
    out = bg.process.stdout
    assert out is not None
    seen = ""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([out], [], [], 1)
        if ready:
            line = out.readline()
            seen += line
            match = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", line)
            if match:
                return bg, int(match.group(1))
        if bg.process.poll() is not None:
            break
    bg.stop()
    raise StepFailedError(f"kubectl port-forward to svc/{service} did not start: {seen.strip()[:300]}",
                          f"check the service exists: kubectl -n {namespace} get svc {service}")


def connect(target: ClusterTarget, namespace: str, host: str, services: dict[str, tuple[str, int]],
            published: list[str] | None = None, health_path: str = "/health",
            https: HttpsRoute | None = None) -> AppClient:
    """Through the ingress when it answers for our Host (over HTTPS with the run's CA when plain HTTP redirects
    there); else port-forwards to both services.

    Candidates: the provider's ingress URL, then the addresses in the Ingress status (`published`).
    `services` maps component -> (service name, port)."""
    notes = []
    candidates = [target.ingress_url] if target.ingress_url else []
    candidates += [f"http://{addr}" for addr in published or [] if f"http://{addr}" not in candidates]
    for url in candidates:
        answer = plain_http_answer(url, host, health_path)
        if answer.seen == "served":
            client = AppClient(url, url, host, access="ingress", plain_base=url)
            client.access_note = answer.detail
            return client
        notes.append(f"{answer.detail} {answer.location}".rstrip())
        if answer.seen == "redirect":  # follow it over HTTPS with the run's CA
            if https is None:
                notes.append("plain HTTP redirects to HTTPS, but no HTTPS address or CA file is known for it")
                continue
            secure, seen = _https_answers(https, health_path)
            notes.append(seen)
            if secure:
                client = AppClient(https.base, https.base, host, access="ingress", session_factory=https.session,
                                   plain_base=url)
                client.access_note = "; ".join(notes) + " -> every check goes over HTTPS"
                return client
    if not candidates:
        notes.append("no ingress URL known for this cluster and none published in the Ingress status")
    if target.ingress_note:
        notes.append(target.ingress_note)
    fwd_backend, port_b = port_forward(target, namespace, *services["backend"])
    fwd_front, port_f = port_forward(target, namespace, *services["frontend"])
    client = AppClient(f"http://127.0.0.1:{port_b}", f"http://127.0.0.1:{port_f}", access="port-forward")
    client._forwards += [fwd_backend, fwd_front]
    client.access_note = "; ".join(notes) + " -> kubectl port-forward"
    return client

"""The app in a real browser through the ingress.

Headless Chromium (Debian's package, driven by Playwright's sync API with `executable_path`, never a
downloaded browser) opens https://<ingress host>/ (http:// when the Ingress serves no TLS), signs up, sends
a chat message that adds a task and waits for that task in the list. The browser maps the host to the
ingress address itself (`--host-resolver-rules`), so /etc/hosts stays untouched and the ingress sees the
real Host header and SNI. Over HTTPS it trusts the run's CA and nothing else added: each run gets a
throwaway HOME whose NSS database (where Chromium on Linux reads the CAs a user added) holds that CA, made
with `certutil` (Debian's libnss3-tools); certificate errors are never ignored.
Each step leaves a screenshot in the run folder; a failure keeps the last state and what the page said.
"""

from __future__ import annotations

import base64
import os
import secrets
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import shell
from .config import REPO_ROOT
from .errors import RunbookError
from .report_template import render_macro

ENSURE_CHROMIUM = REPO_ROOT / "scripts" / "ensure-chromium.sh"
INSTALL_CHROMIUM = "scripts/ensure-chromium.sh as root (Debian: apt-get install chromium libnss3-tools)"
CA_NICKNAME = "todo-runbook local CA (this run)"
NSS_TRUST = "C,,"  # trusted to issue TLS server certificates; not for e-mail or code signing
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 # a proxy from the environment would resolve todo.local itself and bypass the host mapping
                 "--no-proxy-server"]
VIEWPORT = {"width": 1280, "height": 860}
PROMPT, EXPECT = "add buy milk tomorrow", "buy milk"


@dataclass
class Screenshot:
    step: str
    caption: str
    file: str  # relative to the run folder
    path: str  # absolute, for the report to embed


@dataclass
class BrowserStep:
    name: str
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class BrowserResult:
    """`task_shown` is None when the browser never ran (then `reason` and `install` say why and what to do)."""

    task_shown: bool | None
    url: str = ""
    host_rule: str = ""
    browser: str = ""
    prompt: str = PROMPT
    expect: str = EXPECT
    steps: list[BrowserStep] = field(default_factory=list)
    screenshots: list[Screenshot] = field(default_factory=list)
    page_text: str = ""  # on failure: what the page showed last
    reason: str = ""
    install: str = ""
    seconds: float | None = None
    transport: str = ""  # HTTPS with which CA, or why plain HTTP
    ca_file: str = ""  # HTTPS: the only CA this browser was given to trust


@dataclass(frozen=True)
class IngressTarget:
    """Where the browser goes: `base` is the ingress address the host is mapped to, with the scheme the page is
    opened with ("" when it cannot go at all: `transport` says why)."""

    base: str
    ca_file: Path | None = None
    transport: str = ""


def ingress_target(http_base: str, https_base: str, tls_enabled: bool, ca_file: str, tls_note: str) -> IngressTarget:
    """HTTPS with the run's CA when the Ingress serves TLS (verify's TLS check says so and where); plain HTTP,
    labelled with the reason, when it does not."""
    if not tls_enabled:
        return IngressTarget(http_base, None, f"plain HTTP: {tls_note or 'the Ingress serves no TLS'}")
    if not https_base or not ca_file:
        return IngressTarget("", None, "HTTPS is on at the ingress, but the browser cannot use it: "
                                       f"{tls_note or 'no HTTPS address or no CA file'}")
    return IngressTarget(https_base, Path(ca_file), f"HTTPS, trusting only the run's CA {ca_file}")


def nss_database(home: Path, ca_file: Path) -> Path:
    """`home`/.pki/nssdb trusting `ca_file` for TLS servers: where Chromium on Linux looks for CAs a user added.
    A browser started with HOME=`home` trusts the run's CA; no other profile or system store is touched."""
    certutil = shutil.which("certutil")
    if certutil is None:
        raise RunbookError("certutil is not installed (Debian package libnss3-tools): the run's CA cannot be "
                           "given to the browser", INSTALL_CHROMIUM)
    if not ca_file.is_file():
        raise RunbookError(f"the run's CA file {ca_file} does not exist",
                           "run the deploy step (03-deploy): it creates the local CA and the ingress certificate")
    database = home / ".pki" / "nssdb"
    database.mkdir(parents=True, exist_ok=True)
    for argv in ([certutil, "-N", "-d", f"sql:{database}", "--empty-password"],
                 [certutil, "-A", "-d", f"sql:{database}", "-n", CA_NICKNAME, "-t", NSS_TRUST, "-i", str(ca_file)]):
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode != 0:
            raise RunbookError(f"`{shlex.join(argv)}` failed (exit {proc.returncode}): "
                               f"{(proc.stderr or proc.stdout).strip()[-300:]}",
                               f"check that {ca_file} is a PEM certificate; {INSTALL_CHROMIUM}")
    return database


def ensure_chromium() -> tuple[str | None, str]:
    """(browser path, version line) from scripts/ensure-chromium.sh, or (None, why it is missing)."""
    try:
        proc = subprocess.run([str(ENSURE_CHROMIUM)], capture_output=True, text=True, timeout=1200, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{ENSURE_CHROMIUM.name} could not run: {exc}"
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return None, (proc.stderr.strip() or f"exit {proc.returncode}")[-500:]
    version = proc.stderr.strip().splitlines()[-1].removeprefix("ensure-chromium: ") if proc.stderr.strip() else ""
    return lines[-1], version


def host_rule(host: str, ingress_base: str) -> str:
    """Chromium's host mapping: `host` resolves to the ingress address (and its port, when not the default)."""
    parts = urlsplit(ingress_base)
    if not parts.hostname:
        raise ValueError(f"ingress address '{ingress_base}' has no host name")
    address = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"MAP {host} {address}:{parts.port}" if parts.port else f"MAP {host} {address}"


def page_url(host: str, ingress_base: str) -> str:
    """What a person types: the ingress host with the ingress's scheme, no port (the mapping carries it)."""
    return f"{urlsplit(ingress_base).scheme or 'http'}://{host}/"


def check_through_ingress(host: str, access: str, ingress_base: str, out_dir: Path | None,
                          access_note: str = "", timeout_s: float = 60, ca_file: Path | None = None,
                          transport: str = "") -> BrowserResult:
    """The verify step's browser check; it never raises (a browser problem is reported, not thrown).
    An https:// `ingress_base` needs `ca_file`, the run's CA: the only one the browser is given to trust."""
    if access != "ingress":
        return BrowserResult(None, reason=f"the ingress did not answer for {host} (access: {access or 'none'}: "
                                          f"{access_note}); the browser check goes through the ingress only")
    if not ingress_base:
        return BrowserResult(None, reason=transport or "no ingress address for the browser", transport=transport)
    if urlsplit(ingress_base).scheme == "https" and ca_file is None:
        return BrowserResult(None, reason=f"{ingress_base} is HTTPS but no CA file was given: the browser trusts "
                                          "the run's CA only", transport=transport)
    if out_dir is None:
        return BrowserResult(None, reason="no run folder was given for the screenshots (verify(browser_dir=...))")
    chromium, version = ensure_chromium()
    if chromium is None:
        return BrowserResult(None, reason=f"no headless Chromium: {version}", install=INSTALL_CHROMIUM)
    try:
        rule = host_rule(host, ingress_base)
    except ValueError as exc:
        return BrowserResult(None, reason=str(exc))
    return run_flow(page_url(host, ingress_base), rule, chromium, out_dir, browser=version, timeout_s=timeout_s,
                    ca_file=ca_file, transport=transport)


def run_flow(url: str, rule: str, chromium: str, out_dir: Path, browser: str = "", timeout_s: float = 60,
             ca_file: Path | None = None, transport: str = "") -> BrowserResult:
    """Open `url` with the host mapping `rule`, sign up, chat, wait for the task. With `ca_file`, the browser
    trusts that CA through an NSS database in a throwaway HOME, removed afterwards.

    Runs in a worker thread: Playwright's sync API refuses a thread with a running asyncio loop, which is
    what a Jupyter kernel's main thread has."""
    result = BrowserResult(False, url=url, host_rule=rule, browser=browser, transport=transport,
                           ca_file=str(ca_file or ""))
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="todo-runbook-browser-home-") as home:
        try:
            if ca_file is not None:
                nss_database(Path(home), ca_file)
        except RunbookError as exc:
            result.task_shown = None
            result.reason = f"the run's CA could not be given to the browser: {exc.problem}"
            if exc.remedy == INSTALL_CHROMIUM:
                result.install = INSTALL_CHROMIUM
            else:
                result.reason += f" ({exc.remedy})"
            return result
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="browser") as pool:
            try:
                pool.submit(_drive, result, chromium, out_dir, timeout_s, Path(home)).result(timeout=timeout_s * 6)
            except Exception as exc:  # could not launch, or a step broke: the result says which
                result.reason = result.reason or f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:300]}"
                if not result.steps:  # the browser never opened a page: nothing was measured
                    result.task_shown = None
                    result.install = INSTALL_CHROMIUM
    result.seconds = round(time.monotonic() - started, 2)
    return result


def _drive(result: BrowserResult, chromium: str, out_dir: Path, timeout_s: float, home: Path) -> None:
    from playwright.sync_api import sync_playwright

    run_dir = out_dir.parent
    with sync_playwright() as playwright:
        # HOME for the browser only: its NSS database is the throwaway one (the run's CA, or nothing added)
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=[*CHROMIUM_ARGS, f"--host-resolver-rules={result.host_rule}"],
                                             env={**os.environ, "HOME": str(home)})
        try:
            page = browser.new_context(viewport=VIEWPORT).new_page()  # type: ignore[arg-type]
            page.set_default_timeout(timeout_s * 1000)
            flow = _Flow(result, page, out_dir, run_dir)
            try:
                flow.run()
            except Exception as exc:
                flow.record_failure(exc)
        finally:
            browser.close()


class _Flow:
    """The four steps a person takes; each ends with a screenshot."""

    def __init__(self, result: BrowserResult, page: Any, out_dir: Path, run_dir: Path) -> None:
        self.result, self.page, self.out_dir, self.run_dir = result, page, out_dir, run_dir
        self.current = "open the page"
        self.t0 = time.monotonic()

    def shot(self, name: str, caption: str) -> None:
        path = self.out_dir / f"{len(self.result.screenshots) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=False)
        rel = str(path.relative_to(self.run_dir)) if path.is_relative_to(self.run_dir) else str(path)
        self.result.screenshots.append(Screenshot(name, caption, rel, str(path)))

    def done(self, name: str, caption: str, detail: str = "") -> None:
        self.result.steps.append(BrowserStep(self.current, True, round(time.monotonic() - self.t0, 2), detail))
        self.shot(name, caption)
        self.t0 = time.monotonic()

    def run(self) -> None:
        page, res = self.page, self.result
        page.goto(res.url)
        page.wait_for_selector('[data-testid="auth-form"]')
        self.done("page", f"{res.url} through the ingress", page.title())

        self.current = "sign up"
        email, password = f"browser-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(16)
        shell.register_secret(password)
        page.get_by_test_id("auth-switch").click()
        page.wait_for_selector('[data-testid="auth-form"][data-mode="signup"]')
        page.get_by_test_id("auth-email").fill(email)
        page.get_by_test_id("auth-password").fill(password)
        page.get_by_test_id("auth-submit").click()
        signed_in = page.get_by_test_id("signed-in-as")
        signed_in.wait_for()
        self.done("signed-up", f"signed up as {signed_in.inner_text().strip()}")

        self.current = "send a chat message"
        page.get_by_test_id("chat-input").fill(res.prompt)
        page.get_by_test_id("chat-send").click()
        reply = page.get_by_test_id("chat-message-assistant").first
        reply.wait_for()
        answer = " ".join(reply.inner_text().split())[:200]
        self.done("chat-reply", f"chat “{res.prompt}” → “{answer}”", answer)

        self.current = f"see “{res.expect}” in the task list"
        item = page.locator('[data-testid="task-item"]', has_text=res.expect)
        item.first.wait_for()
        res.task_shown = True
        self.done("task-listed", f"task list shows “{' '.join(item.first.inner_text().split())[:120]}”")

    def record_failure(self, exc: Exception) -> None:
        """Keep the last state: a screenshot and the page's text, so the report says what was there."""
        res = self.result
        res.task_shown = False
        first_line = (str(exc).splitlines() or [""])[0][:300]
        res.steps.append(BrowserStep(self.current, False, round(time.monotonic() - self.t0, 2), first_line))
        res.reason = f"stopped at “{self.current}”: {exc.__class__.__name__}: {first_line}"
        try:
            res.page_text = " ".join(self.page.inner_text("body", timeout=5000).split())[:1500]
            self.shot("last-state", f"last state: stopped at “{self.current}”")
        except Exception as shot_exc:  # a dead page: the reason above still stands
            res.page_text = res.page_text or f"(page unreadable: {shot_exc.__class__.__name__})"
        if res.page_text:
            res.reason += f"; the page showed: {res.page_text[:300]}"


VERDICTS = {True: ("the task appeared on the page", "pass"), False: ("the task did not appear", "fail"),
            None: ("not measured", "fail")}


def report_view(browser: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What the report's `browser_section` macro prints: the outcome and the screenshots, inline as data: URIs
    (the report stays one file); a screenshot whose file is gone is linked by its name instead."""
    from markupsafe import Markup

    if not browser:
        return None
    shots = []
    for shot in browser.get("screenshots") or []:
        path = Path(str(shot.get("path", "")))
        src = (Markup(f"data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}") if path.is_file()
               else shot.get("file"))
        shots.append({"src": src, "file": shot.get("file"), "caption": shot.get("caption")})
    verdict, cls = VERDICTS[browser.get("task_shown")]
    return {**{key: browser.get(key) for key in ("browser", "url", "host_rule", "transport", "reason", "install")},
            "verdict": verdict, "cls": cls, "screenshots": shots}


def report_html(browser: Mapping[str, Any] | None) -> str:
    """The browser section on its own (the verify notebook shows it): the template's `browser_section` macro."""
    return render_macro("browser_section", report_view(browser))

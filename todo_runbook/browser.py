"""The app in a real browser through the ingress.

Headless Chromium (Debian's package, driven by Playwright's sync API with `executable_path`, never a
downloaded browser) opens http://<ingress host>/, signs up, sends a chat message that adds a task and
waits for that task in the list. The browser maps the host to the ingress address itself
(`--host-resolver-rules`), so /etc/hosts stays untouched and the ingress sees the real Host header.
Each step leaves a screenshot in the run folder; a failure keeps the last state and what the page said.
"""

from __future__ import annotations

import base64
import html
import secrets
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import shell
from .config import REPO_ROOT

ENSURE_CHROMIUM = REPO_ROOT / "scripts" / "ensure-chromium.sh"
INSTALL_CHROMIUM = "scripts/ensure-chromium.sh as root (Debian's browser: apt-get install chromium)"
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
                          access_note: str = "", timeout_s: float = 60) -> BrowserResult:
    """The verify step's browser check; it never raises (a browser problem is reported, not thrown)."""
    if access != "ingress":
        return BrowserResult(None, reason=f"the ingress did not answer for {host} (access: {access or 'none'}: "
                                          f"{access_note}); the browser check goes through the ingress only")
    if out_dir is None:
        return BrowserResult(None, reason="no run folder was given for the screenshots (verify(browser_dir=...))")
    chromium, version = ensure_chromium()
    if chromium is None:
        return BrowserResult(None, reason=f"no headless Chromium: {version}", install=INSTALL_CHROMIUM)
    try:
        rule = host_rule(host, ingress_base)
    except ValueError as exc:
        return BrowserResult(None, reason=str(exc))
    return run_flow(page_url(host, ingress_base), rule, chromium, out_dir, browser=version, timeout_s=timeout_s)


def run_flow(url: str, rule: str, chromium: str, out_dir: Path, browser: str = "",
             timeout_s: float = 60) -> BrowserResult:
    """Open `url` with the host mapping `rule`, sign up, chat, wait for the task.

    Runs in a worker thread: Playwright's sync API refuses a thread with a running asyncio loop, which is
    what a Jupyter kernel's main thread has."""
    result = BrowserResult(False, url=url, host_rule=rule, browser=browser)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="browser") as pool:
        try:
            pool.submit(_drive, result, chromium, out_dir, timeout_s).result(timeout=timeout_s * 6)
        except Exception as exc:  # could not launch, or a step broke: the result says which
            result.reason = result.reason or f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:300]}"
            if not result.steps:  # the browser never opened a page: nothing was measured
                result.task_shown = None
                result.install = INSTALL_CHROMIUM
    result.seconds = round(time.monotonic() - started, 2)
    return result


def _drive(result: BrowserResult, chromium: str, out_dir: Path, timeout_s: float) -> None:
    from playwright.sync_api import sync_playwright

    run_dir = out_dir.parent
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=[*CHROMIUM_ARGS, f"--host-resolver-rules={result.host_rule}"])
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


def report_html(browser: dict[str, Any] | None) -> str:
    """The report's browser section: the outcome and the screenshots, inline (the report stays one file)."""
    if not browser:
        return ""
    verdict = {True: "<span class='pass'>the task appeared on the page</span>",
               False: "<span class='fail'>the task did not appear</span>",
               None: "<span class='fail'>not measured</span>"}[browser.get("task_shown")]
    parts = [f"<h3>In a real browser</h3><p>{_e(browser.get('browser'))} at <code>{_e(browser.get('url'))}</code> "
             f"(<code>--host-resolver-rules=\"{_e(browser.get('host_rule'))}\"</code>): {verdict}"
             + (f" — {_e(browser.get('reason'))}" if browser.get("reason") else "")
             + (f"; install: {_e(browser.get('install'))}" if browser.get("install") else "") + "</p>"]
    for shot in browser.get("screenshots") or []:
        path = Path(str(shot.get("path", "")))
        src = (f"data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}" if path.is_file()
               else _e(shot.get("file")))
        caption = f"{_e(shot.get('file'))}: {_e(shot.get('caption'))}"
        parts.append(f"<figure><img alt='{_e(shot.get('caption'))}' src='{src}'>"
                     f"<figcaption class='muted'>{caption}</figcaption></figure>")
    return "".join(parts)


def _e(value: Any) -> str:
    return html.escape(shell.mask("" if value is None else str(value)))

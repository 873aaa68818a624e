"""Fixtures for the frontend tests: Node toolchain, the built standalone frontend, the real backend
on a real PostgreSQL, and headless Debian Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.postgres import PostgresServer

REPO_ROOT = Path(__file__).resolve().parents[2]
FRONTEND_DIR = REPO_ROOT / "apps" / "frontend"
BACKEND_DIR = REPO_ROOT / "apps" / "backend"
ENSURE_CHROMIUM = REPO_ROOT / "scripts" / "ensure-chromium.sh"
MIN_NODE = (20, 9)
# Inputs of `next build`: when any is newer than the build, the build is redone.
BUILD_INPUTS = ("app", "components", "lib", "public", "next.config.ts", "package.json", "package-lock.json",
                "tsconfig.json")
BUILD_LOCK = Path("/tmp/todo-runbook-frontend-build.lock")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def node_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "NEXT_TELEMETRY_DISABLED": "1", **extra}


def node_version() -> tuple[int, int, int] | None:
    node = shutil.which("node")
    if node is None:
        return None
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=False).stdout
    match = re.match(r"v(\d+)\.(\d+)\.(\d+)", out.strip())
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


@pytest.fixture(scope="session")
def node_toolchain() -> str:
    """Path of npm, after checking that Node is new enough for Next.js."""
    version = node_version()
    npm = shutil.which("npm")
    if version is None or npm is None:
        pytest.skip("Node.js and npm are not installed; install Node.js 20.9 or newer (22 LTS recommended)")
    if version[:2] < MIN_NODE:
        pytest.skip(f"Node.js {'.'.join(map(str, version))} is too old for Next.js; install 20.9 or newer")
    return npm


@contextlib.contextmanager
def build_lock() -> Iterator[None]:
    """One npm ci / next build at a time across concurrent test sessions on this machine."""
    with open(BUILD_LOCK, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_npm(npm: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([npm, *args], cwd=FRONTEND_DIR, env=node_env(), capture_output=True, text=True,
                            timeout=timeout, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        pytest.fail(f"`npm {' '.join(args)}` in {FRONTEND_DIR} failed (exit {result.returncode}):\n{tail}")
    return result


def newest_mtime(paths: list[Path]) -> float:
    newest = 0.0
    for path in paths:
        if path.is_file():
            newest = max(newest, path.stat().st_mtime)
        elif path.is_dir():
            for child in path.rglob("*"):
                if child.is_file():
                    newest = max(newest, child.stat().st_mtime)
    return newest


@pytest.fixture(scope="session")
def frontend_dependencies(node_toolchain: str) -> str:
    """node_modules in step with package-lock.json (`npm ci` when missing or stale)."""
    marker = FRONTEND_DIR / "node_modules" / ".package-lock.json"
    lock = FRONTEND_DIR / "package-lock.json"
    with build_lock():
        if not marker.exists() or marker.stat().st_mtime < lock.stat().st_mtime:
            run_npm(node_toolchain, "ci", "--no-audit", "--no-fund", "--loglevel=error", timeout=900)
    return node_toolchain


@dataclass(frozen=True)
class StandaloneBuild:
    """The output of `npm run build`: .next/standalone (with static assets copied in)."""

    app_dir: Path

    @property
    def standalone(self) -> Path:
        return self.app_dir / ".next" / "standalone"

    @property
    def server_js(self) -> Path:
        return self.standalone / "server.js"

    @property
    def static(self) -> Path:
        return self.app_dir / ".next" / "static"


@pytest.fixture(scope="session")
def frontend_build(frontend_dependencies: str) -> StandaloneBuild:
    """The built standalone frontend; rebuilt only when a build input changed since the last build."""
    build = StandaloneBuild(FRONTEND_DIR)
    build_id = FRONTEND_DIR / ".next" / "BUILD_ID"
    inputs = [FRONTEND_DIR / name for name in BUILD_INPUTS]
    with build_lock():
        stale = (not build.server_js.exists() or not build_id.exists()
                 or newest_mtime(inputs) > build_id.stat().st_mtime
                 or not (build.standalone / ".next" / "static").is_dir())
        if stale:
            run_npm(frontend_dependencies, "run", "build", timeout=1800)
    assert build.server_js.is_file(), f"{build.server_js} missing after `npm run build`"
    return build


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A child process serving HTTP on loopback, with its combined output in a log file."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_file: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_until_ok(self, path: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode} before answering {path}:\n"
                                   f"{self.log_tail()}")
            try:
                response = httpx.get(self.url + path, timeout=5)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as error:
                last = repr(error)
            time.sleep(0.25)
        raise RuntimeError(f"{self.name} did not answer 200 on {path} within {timeout:.0f}s ({last}):\n"
                           f"{self.log_tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def start_server(name: str, command: list[str], cwd: Path, env: dict[str, str], port: int, log_dir: Path,
                 ready_path: str, timeout: float) -> ServerProcess:
    log_file = log_dir / f"{name}.log"
    with open(log_file, "wb") as log:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = ServerProcess(name, f"http://127.0.0.1:{port}", process, log_file)
    try:
        server.wait_until_ok(ready_path, timeout)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def backend_server(postgres_server: PostgresServer,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The real backend (uvicorn app.main:app) on its own fresh database, local agent mode."""
    if not (BACKEND_DIR / "app" / "main.py").exists():
        pytest.fail(f"{BACKEND_DIR}/app/main.py is missing: the backend must exist for the browser test")
    database_url = postgres_server.create_database()
    port = free_loopback_port()
    env = {key: value for key, value in os.environ.items() if key != "OPENAI_API_KEY"}
    env.update(DATABASE_URL=database_url, JWT_SECRET=secrets.token_hex(32), BCRYPT_ROUNDS="4", LOG_LEVEL="INFO",
               PYTHONUNBUFFERED="1")
    server = start_server(
        "backend", [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=BACKEND_DIR, env=env, port=port, log_dir=tmp_path_factory.mktemp("backend-log"),
        ready_path="/ready", timeout=120,
    )
    yield server
    server.stop()


def start_frontend(build: StandaloneBuild, api_url: str | None, log_dir: Path) -> ServerProcess:
    port = free_loopback_port()
    env = {key: value for key, value in node_env().items() if key != "API_URL"}
    env.update(PORT=str(port), HOSTNAME="127.0.0.1")
    if api_url is not None:
        env["API_URL"] = api_url
    return start_server("frontend", ["node", str(build.server_js)], cwd=build.standalone, env=env, port=port,
                        log_dir=log_dir, ready_path="/healthz", timeout=60)


@pytest.fixture(scope="module")
def frontend_server(frontend_build: StandaloneBuild, backend_server: ServerProcess,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The built frontend (node server.js) forwarding /api to the real backend via API_URL."""
    server = start_frontend(frontend_build, backend_server.url, tmp_path_factory.mktemp("frontend-log"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium, installed on demand by scripts/ensure-chromium.sh."""
    result = subprocess.run([str(ENSURE_CHROMIUM)], capture_output=True, text=True, timeout=1200, check=False)
    if result.returncode != 0:
        pytest.fail(f"scripts/ensure-chromium.sh failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def browser_page(chromium_path: str) -> Iterator[object]:
    """A fresh Playwright page in headless Debian Chromium (a new context: no stored session)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 860})
            page = context.new_page()
            page.set_default_timeout(30_000)
            yield page
            context.close()
        finally:
            browser.close()

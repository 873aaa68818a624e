"""The built standalone frontend: self-contained, no font or asset from the internet, probe route,
and the /api forwarding to API_URL read at run time."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.frontend.conftest import (
    FRONTEND_DIR,
    ServerProcess,
    StandaloneBuild,
    free_loopback_port,
    node_env,
    start_frontend,
)

pytestmark = pytest.mark.slow  # needs `next build` once (about a minute)

# Hosts that serve web fonts or front-end libraries; a build that names one would fetch from it.
FONT_AND_CDN_HOSTS = (
    "fonts.googleapis.com", "fonts.gstatic.com", "use.typekit.net", "p.typekit.net", "fonts.bunny.net",
    "cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com", "ajax.googleapis.com", "use.fontawesome.com",
    "kit.fontawesome.com", "cdn.tailwindcss.com", "esm.sh", "cdn.skypack.dev",
)
TEXT_SUFFIXES = {".js", ".mjs", ".cjs", ".css", ".html", ".json", ".rsc", ".txt", ".map", ".svg", ".meta"}
ABSOLUTE_FONT_URL = re.compile(r"(?:https?:)?//[^\s\"'()]+\.(?:woff2?|ttf|otf|eot)\b", re.IGNORECASE)
CSS_EXTERNAL = re.compile(r"(?:url\(\s*['\"]?|@import\s+['\"]?)(?:https?:)?//", re.IGNORECASE)


def built_text_files(build: StandaloneBuild) -> list[Path]:
    """The application's own output (server chunks, client assets, public/), not node_modules."""
    roots = [build.standalone / ".next", build.static, build.app_dir / "public"]
    return [path for root in roots if root.is_dir() for path in root.rglob("*")
            if path.is_file() and path.suffix in TEXT_SUFFIXES]


class ResourceCollector(HTMLParser):
    """Every URL a page would load by itself: script src, link href, img/source/iframe src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for attribute in ("src", "srcset") if tag in {"script", "img", "source", "iframe", "video", "audio"} else ():
            if values.get(attribute):
                self.urls.extend(part.strip().split(" ")[0] for part in values[attribute].split(","))
        if tag == "link" and values.get("href"):
            self.urls.append(values["href"])


def test_standalone_output_is_self_contained(frontend_build: StandaloneBuild) -> None:
    assert frontend_build.server_js.is_file()
    assert (frontend_build.standalone / "node_modules" / "next").is_dir(), "standalone lacks its traced node_modules"
    copied = frontend_build.standalone / ".next" / "static"
    assert copied.is_dir() and any(copied.rglob("*.js")), "static assets were not copied next to server.js"
    # next.config must not bake a backend address into the build (API_URL is read at run time).
    manifest = json.loads((frontend_build.standalone / ".next" / "routes-manifest.json").read_text())
    rewrites = manifest.get("rewrites", [])
    rules = rewrites if isinstance(rewrites, list) else [r for group in rewrites.values() for r in group]
    baked = [rule["destination"] for rule in rules if re.match(r"(?:https?:)?//", rule.get("destination", ""))]
    assert not baked, f"rewrites to fixed hosts were baked into the build: {baked}"


def test_build_references_no_external_font_or_cdn(frontend_build: StandaloneBuild) -> None:
    files = built_text_files(frontend_build)
    assert any(path.suffix == ".css" for path in files), "no CSS in the build: the scan would prove nothing"
    offenders: list[str] = []
    for path in files:
        text = path.read_text(errors="replace")
        offenders += [f"{path}: names {host}" for host in FONT_AND_CDN_HOSTS if host in text]
        offenders += [f"{path}: font URL {m}" for m in ABSOLUTE_FONT_URL.findall(text)]
        if path.suffix == ".css":
            offenders += [f"{path}: external url()/@import" for _ in CSS_EXTERNAL.finditer(text)]
    assert not offenders, "the build references the internet:\n" + "\n".join(offenders[:20])


@pytest.fixture(scope="module")
def frontend_without_backend(frontend_build: StandaloneBuild,
                             tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The frontend with API_URL pointing at a loopback port where nothing listens."""
    server = start_frontend(frontend_build, f"http://127.0.0.1:{free_loopback_port()}",
                            tmp_path_factory.mktemp("frontend-nobackend"))
    yield server
    server.stop()


def test_healthz_answers_without_the_backend(frontend_without_backend: ServerProcess) -> None:
    response = httpx.get(frontend_without_backend.url + "/healthz", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["status"] == "ok"


def test_api_proxy_reports_unreachable_backend(frontend_without_backend: ServerProcess) -> None:
    response = httpx.get(frontend_without_backend.url + "/api/tasks", timeout=30)
    assert response.status_code == 502
    assert "API_URL" in response.json()["detail"]


def test_page_loads_only_same_origin_resources(frontend_without_backend: ServerProcess) -> None:
    response = httpx.get(frontend_without_backend.url + "/", timeout=30)
    assert response.status_code == 200
    assert "Todo AI Chatbot" in response.text
    collector = ResourceCollector()
    collector.feed(response.text)
    assert collector.urls, "the page loads no resources at all: the check would prove nothing"
    external = [url for url in collector.urls if urlsplit(url).netloc or url.startswith("//")]
    assert not external, f"the page loads resources from other hosts: {external}"
    for url in collector.urls:  # and every one of them is actually served by this server
        assert httpx.get(frontend_without_backend.url + url, timeout=30).status_code == 200, url


def test_api_url_unset_is_a_clear_503(frontend_build: StandaloneBuild, tmp_path: Path) -> None:
    server = start_frontend(frontend_build, None, tmp_path)
    try:
        response = httpx.post(server.url + "/api/chat", json={"message": "hi"}, timeout=30)
        assert response.status_code == 503
        assert "API_URL is not set" in response.json()["detail"]
    finally:
        server.stop()


def test_build_succeeds_without_any_network(frontend_dependencies: str, tmp_path: Path) -> None:
    """`next build` in a fresh network namespace (no interface but a down loopback): anything the build
    tried to fetch (a Google font, a remote asset, telemetry) would fail it."""
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs root and util-linux unshare to build inside an empty network namespace")
    probe = subprocess.run([unshare, "-n", "true"], capture_output=True, text=True, timeout=30, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {probe.stderr.strip()}")
    copy = tmp_path / "frontend"
    shutil.copytree(FRONTEND_DIR, copy, symlinks=True,
                    ignore=shutil.ignore_patterns(".next", "*.tsbuildinfo", "next-env.d.ts"))
    result = subprocess.run([unshare, "-n", "--", frontend_dependencies, "run", "build"], cwd=copy,
                            env=node_env(), capture_output=True, text=True, timeout=1800, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"the build failed without network:\n{output[-4000:]}"
    assert (copy / ".next" / "standalone" / "server.js").is_file()
    assert (copy / ".next" / "standalone" / ".next" / "static").is_dir()

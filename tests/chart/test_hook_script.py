"""The helm test hook's check script, run for real against local HTTP servers standing in for the two Services:
it passes when both answer as the app does and fails, saying which, when one does not."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.chart.chart_tools import Helm


def serve(routes: dict[str, tuple[int, bytes]]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = routes.get(self.path, (404, b"not found"))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def hook_script(helm3: Helm) -> str:
    (pod,) = helm3.render_profile("default").of_kind("Pod")
    return pod["spec"]["containers"][0]["args"][0]


@pytest.fixture
def servers() -> Iterator[dict[str, dict[str, tuple[int, bytes]]]]:
    routes: dict[str, dict[str, tuple[int, bytes]]] = {
        "backend": {"/health": (200, b'{"status":"ok"}')},
        "frontend": {"/": (200, b"<!DOCTYPE html><html><body>Todo</body></html>")},
    }
    running = {name: serve(table) for name, table in routes.items()}
    routes["_ports"] = {name: (server.server_address[1], b"") for name, server in running.items()}
    yield routes
    for server in running.values():
        server.shutdown()


def run_against(script: str, servers: dict[str, dict[str, tuple[int, bytes]]]) -> subprocess.CompletedProcess[str]:
    backend_port, frontend_port = servers["_ports"]["backend"][0], servers["_ports"]["frontend"][0]
    local = script.replace("http://todo-todo-app-backend:8000", f"http://127.0.0.1:{backend_port}")
    local = local.replace("http://todo-todo-app-frontend:3000", f"http://127.0.0.1:{frontend_port}")
    assert local != script
    return subprocess.run([sys.executable, "-c", local], capture_output=True, text=True, timeout=60)


def test_hook_passes_when_both_answer(hook_script: str, servers: dict) -> None:
    result = run_against(hook_script, servers)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "backend /health: HTTP 200" in result.stdout and "frontend page: HTTP 200" in result.stdout


def test_hook_fails_when_the_backend_is_unhealthy(hook_script: str, servers: dict) -> None:
    servers["backend"]["/health"] = (503, b"down")
    result = run_against(hook_script, servers)
    assert result.returncode == 1
    assert "backend /health" in result.stdout and "503" in result.stdout


def test_hook_fails_when_the_frontend_serves_no_page(hook_script: str, servers: dict) -> None:
    servers["frontend"]["/"] = (200, b'{"not": "a page"}')
    result = run_against(hook_script, servers)
    assert result.returncode == 1
    assert "frontend page" in result.stdout and "expected" in result.stdout

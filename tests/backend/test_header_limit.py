"""The header size limit holds before parsing (issue 15): the real backend process, run as the image runs
it (uvicorn's h11 parser with --h11-max-incomplete-event-size, see tests/backend/live.py), refuses a
16 MB Authorization header at once, without buffering or decoding it, and stays healthy. Header size has
nothing to do with the database, so the backend runs without one (/health needs none)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .live import H11_MAX_HEADER_BLOCK, UVICORN_FLAGS, BackendProcess, free_port, start_backend

HUGE = 16 * 1024 * 1024


@pytest.fixture
def backend_without_database(tmp_path: Path) -> Iterator[BackendProcess]:
    nowhere = f"postgresql://todo:secret@127.0.0.1:{free_port()}/todo"  # nothing listens: /ready stays 503
    backend = start_backend(nowhere, tmp_path)
    try:
        deadline = time.monotonic() + 120
        while backend.get("/health").status_code != 200:
            assert time.monotonic() < deadline, backend.log()
            time.sleep(0.1)
        yield backend
    finally:
        backend.stop()


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


def send_huge_authorization(port: int) -> tuple[bytes, int, float]:
    """Send a request whose Authorization header is HUGE bytes long; return the reply (empty when the
    server reset the connection first), how many bytes the server let in, and the seconds taken."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /api/tasks HTTP/1.1\r\nHost: backend\r\nAuthorization: Bearer ")
        sent, chunk = 0, b"x" * 65536
        try:
            while sent < HUGE:
                sent += sock.send(chunk)
        except OSError:  # reset or broken pipe: the server closed the connection while we were still sending
            pass
        try:
            reply = sock.recv(4096)
        except OSError:
            reply = b""
    return reply, sent, time.monotonic() - started


def test_a_16_mb_header_is_refused_before_it_is_parsed(backend_without_database: BackendProcess) -> None:
    backend = backend_without_database
    pid = backend.process.pid
    before = peak_rss_kib(pid)
    reply, sent, seconds = send_huge_authorization(backend.port)
    assert reply == b"" or reply.startswith((b"HTTP/1.1 400 ", b"HTTP/1.1 431 ")), reply[:200]
    assert seconds < 5, f"the server took {seconds:.1f} s to refuse it"
    assert sent < HUGE, "the server read all 16 MB instead of closing the connection"
    # Not parsed: neither held in memory (peak RSS; parsing would hold the header several times over)...
    grown = peak_rss_kib(pid) - before
    assert grown < 8 * 1024, f"peak memory grew by {grown} KiB while refusing the header"
    # ...nor handed to the app: its access log has no line for the request; uvicorn's parser refused it.
    log = backend.log()
    requests = [json.loads(line) for line in log.splitlines() if '"msg": "request"' in line]
    assert not [r for r in requests if r["path"] == "/api/tasks"], requests
    assert "Invalid HTTP request received." in log
    # And the server is healthy.
    assert backend.get("/health").json() == {"status": "ok"}
    assert backend.process.poll() is None


def test_headers_between_the_two_limits_get_the_apps_431(backend_without_database: BackendProcess) -> None:
    """The app's MAX_HEADER_BYTES (16 KiB) lies below the parser's cap, so a moderately large header still
    gets the API's own answer: 431 with a message naming the limit."""
    size = 20_000
    assert size < H11_MAX_HEADER_BLOCK
    response = httpx.get(
        backend_without_database.base_url + "/api/tasks", headers={"Authorization": "Bearer " + "x" * size}
    )
    assert response.status_code == 431
    detail = response.json()["detail"]
    assert detail.startswith("request headers too large") and detail.endswith("the limit is 16384 bytes"), detail


def test_the_image_runs_uvicorn_as_these_tests_do() -> None:
    """The tests above hold for the shipped image only if its entrypoint passes the same parser flags."""
    dockerfile = (Path(__file__).resolve().parents[2] / "dockerfiles" / "backend.Dockerfile").read_text()
    (line,) = [line for line in dockerfile.splitlines() if line.startswith("ENTRYPOINT ")]
    entrypoint = json.loads(line.removeprefix("ENTRYPOINT "))
    assert entrypoint[0] == "uvicorn"
    flags = entrypoint[1:]
    for name, value in zip(UVICORN_FLAGS[::2], UVICORN_FLAGS[1::2], strict=True):
        assert name in flags and flags[flags.index(name) + 1] == value, (name, value, entrypoint)

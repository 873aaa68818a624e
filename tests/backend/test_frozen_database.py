"""A database that stops answering (SIGSTOP on every PostgreSQL process: a network split looks the
same to the client) costs each request a bounded wait: 503 + Retry-After within the configured
bound, /ready within 2 s, and the backend recovers by itself after SIGCONT.

Uses its own throwaway PostgreSQL server, so freezing it disturbs no other test."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from app.db import DbLimits

from tests.support.postgres import PostgresServer, start_postgres, stop_postgres

from .conftest import BackendProcess, sign_up, start_backend, wait_ready

pytestmark = pytest.mark.postgres

LIMITS = DbLimits(connect_seconds=2, pool_seconds=1, hold_seconds=2)
ENV = {
    "DB_CONNECT_TIMEOUT_SECONDS": str(LIMITS.connect_seconds),
    "DB_POOL_TIMEOUT_SECONDS": str(int(LIMITS.pool_seconds)),
    "DB_TIMEOUT_SECONDS": str(int(LIMITS.hold_seconds)),
}
READY_BOUND = 2.0
# Scheduling slack on a shared 2-core machine; the measured times are printed for the report.
SLACK = 2.0


def cluster_pids(server: PostgresServer) -> list[int]:
    """The postmaster and every process it started."""
    postmaster = int((server.datadir / "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            pids.append(int(stat.parent.name))
    return pids


def signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    server = start_postgres()
    try:
        yield server
    finally:
        signal_all(cluster_pids(server), signal.SIGCONT)  # never leave a stopped server behind
        stop_postgres(server)


def timed(base_url: str, method: str, path: str, headers: dict[str, str], body: object) -> tuple[str, int, float, str]:
    started = time.monotonic()
    try:
        response = httpx.request(method, base_url + path, headers=headers, json=body, timeout=60)
        status, retry_after = response.status_code, response.headers.get("retry-after", "")
    except httpx.TransportError as exc:
        status, retry_after = 599, type(exc).__name__
    return path, status, time.monotonic() - started, retry_after


def test_frozen_database_costs_each_request_a_bounded_wait(own_postgres: PostgresServer, tmp_path: Path) -> None:
    backend: BackendProcess = start_backend(own_postgres.create_database(), tmp_path, ENV)
    try:
        wait_ready(backend.get)
        with httpx.Client(base_url=backend.base_url, timeout=60) as http:
            user = sign_up(http)
            for _ in range(3):  # pooled connections exist before the freeze
                assert http.get("/api/tasks", headers=user.headers).status_code == 200
        mcp_headers = {**user.headers, "Accept": "application/json, text/event-stream"}
        mcp_call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        requests = [
            ("GET", "/api/tasks", user.headers, None),
            ("POST", "/api/tasks", user.headers, {"title": "during the freeze"}),
            ("GET", "/api/auth/me", user.headers, None),
            ("GET", "/api/conversations", user.headers, None),
            ("POST", "/api/chat", user.headers, {"message": "what's on my list"}),
            ("POST", "/api/auth/login", {}, {"email": user.email, "password": user.password}),
            ("POST", "/api/mcp", mcp_headers, mcp_call),
        ] * 3
        readies = [("GET", "/ready", {}, None)] * 4
        bound = LIMITS.request_bound_seconds
        pids = cluster_pids(own_postgres)
        signal_all(pids, signal.SIGSTOP)
        try:
            with ThreadPoolExecutor(len(requests) + len(readies)) as pool:
                first = list(pool.map(lambda r: timed(backend.base_url, *r), requests + readies))
                # A second wave meets connections the first one gave up on, and fresh connects.
                second = list(pool.map(lambda r: timed(backend.base_url, *r), requests + readies))
            # /ready on its own, as the kubelet asks it: no self-inflicted crowd of waiting requests.
            alone = [timed(backend.base_url, "GET", "/ready", {}, None) for _ in range(3)]
        finally:
            signal_all(cluster_pids(own_postgres), signal.SIGCONT)
        results = first + second + alone
        print("\nfrozen database, bound", bound, "s:")
        for path, status, seconds, retry_after in results:
            print(f"  {path:22} {status} {seconds:6.2f} s retry-after={retry_after}")
        for path, status, seconds, retry_after in results:
            assert status == 503, (path, status, backend.log()[-3000:])
            if path == "/ready":
                assert seconds < READY_BOUND + SLACK, (path, seconds)
            else:
                assert seconds < bound + SLACK, (path, seconds)
                assert retry_after.isdigit(), (path, retry_after)

        # Recovery without a restart.
        recovered = wait_ready(backend.get, timeout=60)
        assert recovered.json()["status"] == "ready"
        with httpx.Client(base_url=backend.base_url, timeout=60) as http:
            listed = http.get("/api/tasks", headers=user.headers)
            assert listed.status_code == 200, listed.text
            assert http.post("/api/tasks", json={"title": "after"}, headers=user.headers).status_code == 201
        assert backend.process.poll() is None
    finally:
        backend.stop()

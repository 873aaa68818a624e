"""A database that stops answering (SIGSTOP on every PostgreSQL process: a network split looks the
same to the client) costs each request a bounded wait: 503 + Retry-After within the configured
bound, also when more requests arrive at once than anyio has worker threads (40), /ready within
2 s, nothing written by a request that was answered 503, and the backend recovers by itself after
SIGCONT.

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
from app.config import READY_BOUND_SECONDS
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
# The app's deadline starts when its middleware sees the request; the time measured here also covers the
# connection, uvicorn's parsing and the 503's way back, with 67 client threads on the same machine. Measured
# with this crowd against a stand-in database that accepts connections and never answers, on a 2-core machine
# at load 5-7: 0.07-0.15 s over the deadline at the client, at most 4 ms at the server. 0.5 s, no more.
CLIENT_MARGIN = 0.5
# /ready needs no margin: its database check is cut at READY_CHECK_SECONDS (half the bound), so half of the
# 2 s is left for scheduling.
ANYIO_WORKER_THREADS = 40


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


Sample = tuple[str, int, float, str]  # path, status, seconds, Retry-After (or the transport error's name)


def timed(http: httpx.Client, method: str, path: str, headers: dict[str, str], body: object) -> Sample:
    """One request through a shared client (made before the clock starts: building a client per request
    costs CPU that 70 threads would queue for, and that time is the client's, not the server's)."""
    started = time.monotonic()
    try:
        response = http.request(method, path, headers=headers, json=body)
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
        kinds = [
            ("GET", "/api/tasks", user.headers, None),
            ("POST", "/api/tasks", user.headers, {"title": "during the freeze"}),
            ("GET", "/api/auth/me", user.headers, None),
            ("GET", "/api/conversations", user.headers, None),
            ("POST", "/api/chat", user.headers, {"message": "what's on my list"}),
            ("POST", "/api/auth/login", {}, {"email": user.email, "password": user.password}),
            ("POST", "/api/mcp", mcp_headers, mcp_call),
        ]
        requests = kinds * 3
        # More at once than anyio has worker threads: the last ones wait for a thread before their database
        # wait begins, which only the app's overall deadline (REQUEST_TIMEOUT_SECONDS) bounds.
        crowd = kinds * 9
        assert len(crowd) > ANYIO_WORKER_THREADS
        readies = [("GET", "/ready", {}, None)] * 4
        bound = LIMITS.request_bound_seconds  # the app derives its deadline from the same three settings
        limits = httpx.Limits(max_connections=len(crowd) + len(readies) + 5)
        pids = cluster_pids(own_postgres)
        signal_all(pids, signal.SIGSTOP)
        try:
            with (
                httpx.Client(base_url=backend.base_url, timeout=60, limits=limits) as shared,
                ThreadPoolExecutor(len(crowd) + len(readies)) as pool,
            ):
                waves: dict[str, list[Sample]] = {}
                for name, wave in (("first", requests), ("second", requests), ("crowd", crowd)):
                    # The second wave meets connections the first one gave up on, and fresh connects; the crowd
                    # also meets the worker threads of requests already answered 503 and still finishing.
                    waves[name] = list(pool.map(lambda r: timed(shared, *r), wave + readies))
                # /ready on its own, as the kubelet asks it: no self-inflicted crowd of waiting requests.
                waves["alone"] = [timed(shared, "GET", "/ready", {}, None) for _ in range(3)]
        finally:
            signal_all(cluster_pids(own_postgres), signal.SIGCONT)
        print(f"\nfrozen database, request bound {bound:g} s, /ready bound {READY_BOUND_SECONDS:g} s:")
        for name, results in waves.items():
            for path, status, seconds, retry_after in results:
                print(f"  {name:6} {path:22} {status} {seconds:6.2f} s retry-after={retry_after}")
        for name, results in waves.items():
            for path, status, seconds, retry_after in results:
                assert status == 503, (name, path, status, backend.log()[-3000:])
                if path == "/ready":
                    assert seconds < READY_BOUND_SECONDS, (name, path, seconds)
                else:
                    assert seconds < bound + CLIENT_MARGIN, (name, path, seconds)
                    assert retry_after.isdigit(), (name, path, retry_after)
        deadline_answers = [line for line in backend.log().splitlines() if "request deadline passed" in line]
        print(f"  answered by the overall deadline: {len(deadline_answers)}")

        # Recovery without a restart.
        recovered = wait_ready(backend.get, timeout=60)
        assert recovered.json()["status"] == "ready"
        with httpx.Client(base_url=backend.base_url, timeout=60) as http:
            listed = http.get("/api/tasks", headers=user.headers)
            assert listed.status_code == 200, listed.text
            assert http.post("/api/tasks", json={"title": "after"}, headers=user.headers).status_code == 201
            # Every "during the freeze" POST was answered 503, so none may have been stored, not even by a
            # worker thread that reached the database after SIGCONT (its session refuses to commit).
            time.sleep(LIMITS.hold_seconds + 1)  # threads still finishing have hit the watchdog by now
            titles = [t["title"] for t in http.get("/api/tasks", headers=user.headers).json()]
            conversations = http.get("/api/conversations", headers=user.headers).json()
        assert titles == ["after"], titles
        assert conversations == [], "a chat turn answered 503 stored its messages"
        assert backend.process.poll() is None
    finally:
        backend.stop()

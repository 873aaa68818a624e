"""The request middleware's deadline (issue 15): an answer that has not started after the bound becomes
503 + Retry-After in the API's one error shape, also for requests queued behind anyio's 40 worker
threads, whose wait the database bounds do not cover; a request given up that way opens no database
session and commits nothing. The routes here block on an event instead of a database, so the
middleware's timing is measured on its own and no PostgreSQL is needed; test_frozen_database.py runs
the same deadline against a frozen real one."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from app.config import Settings
from app.db import REQUEST_GIVEN_UP, Database, DbLimits, RequestGivenUp
from app.main import RETRY_AFTER_SECONDS, create_app
from app.middleware import RequestMiddleware
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

DEADLINE = 1.0
# ASGITransport runs the app in the test's own event loop: no sockets, so a few tens of milliseconds cover it.
MARGIN = 0.25
ANYIO_WORKER_THREADS = 40


def app_with_deadline(seconds: float = DEADLINE, **kwargs: object) -> FastAPI:
    app = FastAPI()
    app.add_middleware(
        RequestMiddleware,
        max_body_bytes=64 * 1024,
        request_timeout_seconds=seconds,
        retry_after_seconds=RETRY_AFTER_SECONDS,
        **kwargs,
    )
    return app


async def timed_get(http: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await http.get(path)
    return response, time.monotonic() - started


def client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://backend", timeout=30)


def test_more_requests_than_worker_threads_all_get_503_at_the_deadline() -> None:
    release = threading.Event()
    seen_given_up: list[bool] = []
    app = app_with_deadline()

    @app.get("/stuck")
    def stuck() -> dict[str, str]:  # a sync route: it runs in one of anyio's worker threads
        release.wait(30)
        given_up = REQUEST_GIVEN_UP.get()
        seen_given_up.append(given_up is not None and given_up.is_set())
        return {"late": "answer"}

    crowd = ANYIO_WORKER_THREADS + 5  # the last five wait for a thread, not in one

    async def run() -> list[tuple[httpx.Response, float]]:
        async with client(app) as http:
            results = await asyncio.gather(*(timed_get(http, "/stuck") for _ in range(crowd)))
            release.set()
            for _ in range(100):  # the given-up requests run to their end; their late answers are dropped
                if len(seen_given_up) == crowd:
                    break
                await asyncio.sleep(0.05)
            return results

    results = asyncio.run(run())
    for response, seconds in results:
        assert response.status_code == 503, response.text
        assert response.json().keys() == {"detail"} and f"within {DEADLINE:g} s" in response.json()["detail"]
        assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
        assert response.headers["x-request-id"]
        assert DEADLINE <= seconds < DEADLINE + MARGIN, seconds
    # Every request still ran to its end (none is cancelled half-way), knowing it had been given up.
    assert len(seen_given_up) == crowd and all(seen_given_up), seen_given_up


def test_a_given_up_request_opens_no_session_and_commits_nothing() -> None:
    """The database side of the deadline, without a database: both refusals come before any connection
    is made (nothing listens at the URL, so an attempt would raise OperationalError instead)."""
    db = Database("postgresql+psycopg://u:p@127.0.0.1:1/todo", DbLimits(connect_seconds=2))
    given_up = threading.Event()
    marker = REQUEST_GIVEN_UP.set(given_up)
    try:
        with pytest.raises(RequestGivenUp, match="answered 503"), db.session():  # in time: a session opens
            given_up.set()  # the deadline passes while the request works: the commit at the end is refused
        with pytest.raises(RequestGivenUp), db.session():
            pytest.fail("a session opened for a request already answered 503")
    finally:
        REQUEST_GIVEN_UP.reset(marker)
        db.dispose()
    with db.session():  # another request, without a deadline passed, is not affected
        pass


def test_an_answer_that_started_in_time_is_not_cut() -> None:
    app = app_with_deadline()

    @app.get("/stream")
    def stream() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"first,"
            await asyncio.sleep(DEADLINE + 0.3)
            yield b"second"

        return StreamingResponse(body(), media_type="text/plain")

    async def run() -> tuple[httpx.Response, float]:
        async with client(app) as http:
            return await timed_get(http, "/stream")

    response, seconds = asyncio.run(run())
    assert (response.status_code, response.text) == (200, "first,second")
    assert seconds > DEADLINE


def test_an_error_of_the_app_is_not_mistaken_for_the_deadline() -> None:
    app = app_with_deadline()

    @app.get("/times-out-inside")
    async def times_out_inside() -> None:
        raise TimeoutError("the app's own timeout, long before the deadline")

    @app.get("/quick")
    def quick() -> dict[str, str]:
        return {"status": "ok"}

    async def run() -> list[tuple[httpx.Response, float]]:
        async with client(app) as http:
            return [await timed_get(http, "/times-out-inside"), await timed_get(http, "/quick")]

    (failed, failed_seconds), (ok, _) = asyncio.run(run())
    assert failed.status_code == 500 and failed_seconds < DEADLINE
    assert (ok.status_code, ok.json()) == (200, {"status": "ok"})


def test_a_route_with_its_own_bound_may_take_longer() -> None:
    app = app_with_deadline(0.3, route_timeouts={("POST", "/api/chat"): 3.0})

    @app.post("/api/chat")
    def chat() -> dict[str, str]:
        time.sleep(0.6)
        return {"reply": "done"}

    @app.get("/api/chat")  # the same path with another method keeps the general bound
    def chat_get() -> dict[str, str]:
        time.sleep(0.6)
        return {"reply": "done"}

    async def run() -> tuple[httpx.Response, httpx.Response]:
        async with client(app) as http:
            return await http.post("/api/chat"), await http.get("/api/chat")

    posted, got = asyncio.run(run())
    assert (posted.status_code, posted.json()) == (200, {"reply": "done"})
    assert got.status_code == 503


def deadline_settings(app: FastAPI) -> dict[str, object]:
    (middleware,) = [m for m in app.user_middleware if m.cls is RequestMiddleware]
    return dict(middleware.kwargs)


def test_the_app_takes_its_deadline_from_the_settings() -> None:
    url = "postgresql+psycopg://u:p@127.0.0.1:1/todo"  # never connected to: building the app opens nothing
    base = Settings(database_url=url, jwt_secret="j" * 40, log_level="WARNING")
    derived = deadline_settings(create_app(base))
    assert derived["request_timeout_seconds"] == DbLimits(3, 2.0, 5.0).request_bound_seconds == 8
    assert derived["route_timeouts"] == {}  # the local agent's turn is database work only
    explicit = Settings(database_url=url, jwt_secret="j" * 40, log_level="WARNING", request_timeout_seconds=4)
    assert deadline_settings(create_app(explicit))["request_timeout_seconds"] == 4
    online = Settings(
        database_url=url, jwt_secret="j" * 40, log_level="WARNING", openai_api_key="sk-x", chat_timeout_seconds=90
    )
    assert deadline_settings(create_app(online))["route_timeouts"] == {("POST", "/api/chat"): 90}

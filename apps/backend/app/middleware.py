"""One ASGI middleware per request: request id, header and body size limits, a deadline for the
answer, JSON access log, Prometheus metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Mapping

from fastapi import HTTPException
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db import REQUEST_GIVEN_UP

log = logging.getLogger("app.request")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests served", ["method", "route", "status"])
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request duration",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def _header(raw: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in raw:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class RequestMiddleware:
    """``request_timeout_seconds`` bounds the wait for the start of every answer, including the wait for
    a worker thread (anyio's pool has 40), which the database's own bounds do not cover; past it the
    client gets 503 + Retry-After. ``route_timeouts`` gives (method, path) pairs a bound of their own."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        max_header_bytes: int = 16 * 1024,
        request_timeout_seconds: float = 8.0,
        route_timeouts: Mapping[tuple[str, str], float] | None = None,
        retry_after_seconds: int = 2,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes
        self.request_timeout_seconds = request_timeout_seconds
        self.route_timeouts = dict(route_timeouts or {})
        self.retry_after_seconds = retry_after_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        raw_headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        # Sized before anything is decoded: an oversized block costs one pass over lengths only.
        header_bytes = sum(len(k) + len(v) for k, v in raw_headers)
        oversized = header_bytes > self.max_header_bytes
        incoming = "" if oversized else _header(raw_headers, b"x-request-id") or ""
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        limit = self.max_body_bytes

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"request body too large: the limit is {limit} bytes")
            return message

        try:
            if oversized:
                detail = f"request headers too large ({header_bytes} bytes): the limit is {self.max_header_bytes} bytes"
                await _plain_json(send_with_id, 431, detail)
                return
            declared = _header(raw_headers, b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                await _plain_json(send_with_id, 413, f"request body too large: the limit is {limit} bytes")
                return
            method, path = scope.get("method", ""), scope.get("path", "")
            seconds = self.route_timeouts.get((method, path), self.request_timeout_seconds)
            await self._answer_within(seconds, scope, limited_receive, send_with_id)
        finally:
            duration = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(method, template, str(status)).inc()
            HTTP_DURATION.labels(method, template).observe(duration)
            log.info(
                "request",
                extra={
                    "method": method,
                    "path": scope.get("path", ""),  # never the query string: it may carry secrets
                    "status": status,
                    "duration_ms": round(duration * 1000, 2),
                    "request_id": request_id,
                },
            )

    async def _answer_within(self, seconds: float, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app in its own task; if it has not started its answer after `seconds`, answer 503 and
        leave the task to finish in the background: its answer is dropped, and app.db opens no session
        and commits nothing for it (REQUEST_GIVEN_UP). Not cancelled: cancelling makes anyio abandon a
        running worker thread while FastAPI closes the request's session from another thread, two
        threads on one session. An answer already started (a streamed body) is not cut."""
        given_up = threading.Event()
        answer_started = False

        async def send_unless_given_up(message: Message) -> None:
            nonlocal answer_started
            if given_up.is_set():
                return  # the client already has its 503
            answer_started = answer_started or message["type"] == "http.response.start"
            await send(message)

        marker = REQUEST_GIVEN_UP.set(given_up)
        try:  # the task copies the context here, so the app and its worker threads see this request's event
            app_call = asyncio.ensure_future(self.app(scope, receive, send_unless_given_up))
        finally:
            REQUEST_GIVEN_UP.reset(marker)
        try:
            async with asyncio.timeout(seconds):
                await asyncio.shield(app_call)
            return
        except TimeoutError:
            if app_call.done():  # finished as the deadline passed, or raised a TimeoutError of its own
                app_call.result()
                return
            if answer_started:
                await app_call
                return
        except asyncio.CancelledError:
            app_call.cancel()
            raise
        given_up.set()
        app_call.add_done_callback(_log_late_failure)
        log.warning("request deadline passed", extra={"path": scope.get("path", ""), "deadline_s": seconds})
        await _plain_json(
            send,
            503,
            f"no answer within {seconds:g} s (the database may be slow or unavailable); try again shortly",
            [(b"retry-after", str(self.retry_after_seconds).encode())],
        )


def _log_late_failure(task: asyncio.Future[None]) -> None:
    """Retrieve the outcome of a request answered 503 at its deadline, so a late error is logged once."""
    error = None if task.cancelled() else task.exception()
    if error is not None:
        log.info("late work of a timed-out request failed", extra={"error_type": type(error).__name__})


async def _plain_json(send: Send, status: int, detail: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

"""Database engine and session factory (SQLAlchemy 2, psycopg 3), with every wait bounded.

A sick database must cost a request seconds, not forever:
- connecting: libpq ``connect_timeout`` (covers the whole start-up handshake);
- waiting for a pooled connection: ``pool_timeout``;
- a slow statement on a healthy server: ``statement_timeout`` (the server cancels it);
- a server that stops answering (frozen, or a network split, where the kernel still acknowledges
  and TCP keepalives see nothing wrong): a watchdog shuts the socket of any connection checked out
  for longer than ``hold_seconds``, so the blocked thread wakes up with an error;
- idle pooled connections to a vanished peer: TCP keepalives and ``tcp_user_timeout``.

A request the middleware has already answered 503 (its deadline passed) still runs to its end in the
background, but opens no new session and commits nothing, so a client told "try again" finds nothing
half-done and a queue of given-up requests drains without touching the database.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool


class DatabaseTimeout(Exception):
    """The database did not answer within the configured bound; the request should get 503."""


class RequestGivenUp(DatabaseTimeout):
    """The request was already answered 503 for taking too long; its late work must not commit."""


# Set by the request middleware for each request: the event is set once the request has been answered 503 at
# its deadline. Worker threads inherit it (anyio and asyncio.to_thread copy the caller's context).
REQUEST_GIVEN_UP: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "request_given_up", default=None
)


def refuse_if_given_up(*_: object) -> None:
    """Raise RequestGivenUp when this request has been answered 503 already. Also a `before_commit`
    listener: raising there makes the commit fail, and the session rolls back."""
    given_up = REQUEST_GIVEN_UP.get()
    if given_up is not None and given_up.is_set():
        raise RequestGivenUp("the request was answered 503 at its deadline; its database work is not done")


@dataclass(frozen=True)
class DbLimits:
    connect_seconds: int = 3  # libpq's minimum is 2
    pool_seconds: float = 2.0
    hold_seconds: float = 5.0  # the longest one checkout (one request's database work) may take

    @property
    def request_bound_seconds(self) -> float:
        """The longest a request waits on the database before it is answered 503."""
        return self.pool_seconds + max(self.hold_seconds, 2 * self.connect_seconds)


def _connect_args(limits: DbLimits) -> dict[str, Any]:
    return {
        "connect_timeout": limits.connect_seconds,
        "application_name": "todo-backend",
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        "tcp_user_timeout": 30_000,  # ms: unacknowledged data on a split network fails instead of waiting
    }


class Watchdog:
    """Shuts the socket of a connection still checked out after its deadline. It holds its own
    duplicate of the socket, so a closed-and-reused descriptor number is never touched."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int]] = []
        self._watched: dict[int, socket.socket] = {}
        self._fired: set[int] = set()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def watch(self, fd: int, seconds: float) -> int:
        sock = socket.socket(fileno=os.dup(fd))
        with self._cond:
            ticket = next(self._ids)
            self._watched[ticket] = sock
            heapq.heappush(self._heap, (time.monotonic() + seconds, ticket))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="db-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()
        return ticket

    def release(self, ticket: int) -> bool:
        """Stop watching; True when the deadline had passed and the socket was shut."""
        with self._cond:
            sock = self._watched.pop(ticket, None)
            fired = ticket in self._fired
            self._fired.discard(ticket)
        if sock is not None:
            sock.close()
        return fired

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                while self._heap and (self._heap[0][1] not in self._watched or self._heap[0][0] <= now):
                    _, ticket = heapq.heappop(self._heap)
                    sock = self._watched.get(ticket)
                    if sock is not None:
                        self._fired.add(ticket)
                        with suppress(OSError):
                            sock.shutdown(socket.SHUT_RDWR)
                timeout = self._heap[0][0] - now if self._heap else None
                self._cond.wait(timeout)


def make_engine(database_url: str, limits: DbLimits, pool_size: int = 10) -> tuple[Engine, Watchdog]:
    engine = create_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=10,
        pool_timeout=limits.pool_seconds,
        pool_pre_ping=False,  # the checkout listener below pings, under the watchdog
        pool_recycle=300,
        connect_args=_connect_args(limits),
    )
    watchdog = Watchdog()
    statement_ms = int(limits.hold_seconds * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # Outside a transaction, so the pool's reset-on-return cannot roll the setting back.
        dbapi_connection.autocommit = True
        dbapi_connection.execute(f"SET statement_timeout = {statement_ms}")
        dbapi_connection.autocommit = False
        record.info["fresh"] = True

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        ticket = watchdog.watch(dbapi_connection.pgconn.socket, limits.hold_seconds)
        record.info["watch"] = ticket
        if record.info.pop("fresh", False):
            return
        try:  # a pooled connection may have been dropped (idle timeout, database restart): ping it
            dbapi_connection.autocommit = True
            dbapi_connection.execute("SELECT 1")
            dbapi_connection.autocommit = False
        except Exception as error:
            record.info.pop("watch", None)
            if watchdog.release(ticket):
                raise DatabaseTimeout(f"the database did not answer within {limits.hold_seconds:g} s") from None
            raise exc.DisconnectionError(str(error)) from error  # the pool replaces the connection once

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, record: Any) -> None:
        ticket = record.info.pop("watch", None)
        if ticket is not None:
            watchdog.release(ticket)

    @event.listens_for(engine, "close")
    def _on_close(dbapi_connection: Any, record: Any) -> None:
        _on_checkin(dbapi_connection, record)

    return engine, watchdog


class Database:
    """Owns the engine and hands out sessions that commit on success and roll back on error."""

    def __init__(self, database_url: str, limits: DbLimits | None = None) -> None:
        self.url = database_url
        self.limits = limits or DbLimits()
        self.engine, self._watchdog = make_engine(database_url, self.limits)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self._sessions, "before_commit", refuse_if_given_up)

    def migration_engine(self) -> Engine:
        """An engine without the watchdog or statement timeout: migrations wait on an advisory lock
        while another replica migrates, which may legitimately take longer than a request."""
        return create_engine(self.url, poolclass=NullPool, connect_args=_connect_args(self.limits))

    @contextmanager
    def session(self) -> Iterator[Session]:
        refuse_if_given_up()
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
        self._watchdog.stop()

"""The ASGI application: ``uvicorn app.main:app --host 0.0.0.0 --port 8000``.

``app`` is built on first access from the environment (see :mod:`app.config`); a missing or bad
setting prints one line naming the variable and exits with status 2. Tests build their own
instances with :func:`create_app`.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from app import __version__
from app.api import auth, chat, health, tasks
from app.config import ConfigError, Settings, load_settings, redact_url
from app.db import Database, DatabaseTimeout, DbLimits
from app.logs import configure_logging
from app.mcp_tools import McpHttpEndpoint, build_mcp_server
from app.middleware import RequestMiddleware
from app.migrate import current_revision, head_revision, upgrade_to_head
from app.openapi import install_openapi, method_not_allowed
from app.security import PasswordHasher, TokenIssuer
from app.state import AppState
from app.throttle import LoginThrottle

log = logging.getLogger("app")
# Without the chart's init container the app starts beside its database: a short cap means Ready soon after it.
MIGRATION_RETRY_MAX_SECONDS = 2.0
RETRY_AFTER_SECONDS = 2


class SchemaBehind(RuntimeError):
    """RUN_MIGRATIONS=false and the schema is not at head yet."""


def _warm_up() -> None:
    """Import what the first chat turn would otherwise load on demand (the MCP client validates tool
    results with jsonschema, whose import can take seconds), so readiness means fast answers."""
    import jsonschema  # noqa: F401


async def _migrate_until_done(state: AppState) -> None:
    """Apply (or, with RUN_MIGRATIONS=false, wait for) the schema; retry while the database is away.
    Readiness stays false until this succeeds, liveness stays true."""
    delay = 0.5
    engine = state.db.migration_engine()
    try:
        await _migrate_with(state, engine, delay)
    finally:
        engine.dispose()


async def _migrate_with(state: AppState, engine: Engine, delay: float) -> None:
    while True:
        try:
            if state.settings.run_migrations:
                revision = await asyncio.to_thread(upgrade_to_head, engine)
            else:
                revision = await asyncio.to_thread(current_revision, engine)
                if revision != head_revision():
                    raise SchemaBehind(f"schema at {revision}, waiting for {head_revision()} (RUN_MIGRATIONS=false)")
            await asyncio.to_thread(_warm_up)
            state.readiness.revision = revision
            state.readiness.migrated = True
            state.readiness.last_error = None
            log.info("ready", extra={"revision": revision})
            return
        except Exception as exc:
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            # The public /ready answer names only the kind of problem: driver messages carry internal hosts and ports.
            state.readiness.last_error = (
                str(exc) if isinstance(exc, SchemaBehind) else f"database not reachable yet ({type(exc).__name__})"
            )
            log.warning("database not ready, retrying", extra={"error": error, "retry_in_s": delay})
            await asyncio.sleep(delay)
            delay = min(delay * 2, MIGRATION_RETRY_MAX_SECONDS)


def _error(status: int, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> tuple[int, Any]:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return 400, "malformed JSON body: send a valid JSON object with Content-Type: application/json"
    parts = []
    for e in errors:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {e.get('msg', 'invalid')}")
    return 422, "; ".join(parts) or "invalid request"


def create_app(settings: Settings) -> FastAPI:
    configure_logging(settings.log_level)
    limits = DbLimits(
        connect_seconds=settings.db_connect_timeout_seconds,
        pool_seconds=settings.db_pool_timeout_seconds,
        hold_seconds=settings.db_timeout_seconds,
    )
    db = Database(settings.database_url, limits)
    tokens = TokenIssuer(settings.jwt_secret, settings.jwt_ttl_minutes)
    mcp_server = build_mcp_server(db, tokens)
    mcp_endpoint = McpHttpEndpoint(mcp_server, tokens, db)
    throttle = LoginThrottle(
        per_account=settings.login_failures_per_account,
        per_address=settings.login_failures_per_address,
        window_seconds=settings.login_window_seconds,
    )
    state = AppState(settings, db, tokens, PasswordHasher(settings.bcrypt_rounds), mcp_server, throttle)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        log.info(
            "starting",
            extra={
                "version": __version__,
                "database": redact_url(settings.database_url),
                "agent_mode": settings.agent_mode,
            },
        )
        migration = asyncio.create_task(_migrate_until_done(state))
        state.background.append(migration)
        async with mcp_endpoint.session_manager.run():
            yield
        migration.cancel()
        db.dispose()
        log.info("stopped")

    app = FastAPI(
        title="Todo AI Chatbot API",
        version=__version__,
        lifespan=lifespan,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.todo = state

    @app.exception_handler(RequestValidationError)
    async def on_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        status, detail = _validation_message(exc)
        return _error(status, detail)

    @app.exception_handler(DataError)
    async def on_data_error(_: Request, exc: DataError) -> JSONResponse:
        return _error(422, "a value was not accepted by the database; check lengths and formats")

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(DisconnectionError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(DatabaseTimeout)
    async def on_database_down(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable", extra={"error_type": type(exc).__name__})
        return _error(503, "database unavailable; try again shortly", {"Retry-After": str(RETRY_AFTER_SECONDS)})

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            return method_not_allowed(app, request, (exc.headers or {}).get("Allow", ""))
        return _error(exc.status_code, exc.detail, dict(exc.headers or {}))

    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(tasks.router)
    app.include_router(chat.router)
    for path in ("/api/mcp", "/api/mcp/"):
        app.router.routes.append(Route(path, endpoint=mcp_endpoint))

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_credentials=False,
            allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID", "Mcp-Session-Id", "Mcp-Protocol-Version"],
            expose_headers=["X-Request-ID", "X-Total-Count", "Link", "Retry-After"],
        )
    # The OpenAI agent's model calls take seconds each, so its chat turn has its own, longer bound.
    chat_timeout = {("POST", "/api/chat"): settings.chat_timeout_seconds} if settings.agent_mode == "openai" else {}
    app.add_middleware(
        RequestMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_header_bytes=settings.max_header_bytes,
        request_timeout_seconds=settings.request_timeout_seconds or limits.request_bound_seconds,
        route_timeouts=chat_timeout,
        retry_after_seconds=RETRY_AFTER_SECONDS,
    )
    install_openapi(app)
    return app


def app_from_environment() -> FastAPI:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"todo-backend: configuration error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    return create_app(settings)


_app: FastAPI | None = None


def __getattr__(name: str) -> Any:
    # `app` is built lazily so importing this module (tests, tools) needs no environment.
    global _app
    if name == "app":
        if _app is None:
            _app = app_from_environment()
        return _app
    raise AttributeError(name)

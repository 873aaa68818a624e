"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from app.api.deps import app_state
from app.migrate import head_revision

router = APIRouter(tags=["health"])


@router.get("/health")
@router.get("/api/health")
async def health() -> dict[str, str]:
    """Liveness: the process answers; no I/O on purpose (a database outage must not restart pods)."""
    return {"status": "ok"}


@router.get("/ready")
@router.get("/api/ready")
async def ready(request: Request) -> JSONResponse:
    """Readiness: migrations applied by this process and the database answering at the head revision."""
    state = app_state(request)
    if not state.readiness.migrated:
        reason = state.readiness.last_error or "migrations are still running"
        return JSONResponse({"status": "not ready", "detail": reason}, status_code=503)

    def check() -> str | None:
        with state.db.engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    try:
        revision = await run_in_threadpool(check)
    except Exception as exc:  # any database failure means "not ready", never a 500
        return JSONResponse(
            {"status": "not ready", "detail": f"database unreachable: {type(exc).__name__}"}, status_code=503
        )
    expected = head_revision()
    if revision != expected:
        return JSONResponse(
            {"status": "not ready", "detail": f"schema at {revision}, expected {expected}"}, status_code=503
        )
    return JSONResponse({"status": "ready", "revision": revision})


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

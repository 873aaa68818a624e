"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.api.deps import app_state
from app.config import READY_BOUND_SECONDS
from app.migrate import head_revision
from app.schemas import HealthOut, ReadyOut

router = APIRouter(tags=["health"])
READY_CHECK_SECONDS = READY_BOUND_SECONDS / 2  # the rest of the bound is headroom for a busy event loop
READY_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"model": ReadyOut, "description": "migrated and the database answers"},
    503: {"model": ReadyOut, "description": "not ready: migrations pending or the database not answering"},
}


@router.get("/health", response_model=HealthOut)
@router.get("/api/health", response_model=HealthOut)
async def health() -> dict[str, str]:
    """Liveness: the process answers; no I/O on purpose (a database outage must not restart pods)."""
    return {"status": "ok"}


@router.get("/ready", responses=READY_RESPONSES)
@router.get("/api/ready", responses=READY_RESPONSES)
async def ready(request: Request) -> JSONResponse:
    """Readiness: migrations applied by this process and the database answering at the head revision,
    decided within READY_CHECK_SECONDS (the chart's probe timeout is longer) either way."""
    state = app_state(request)
    if not state.readiness.migrated:
        reason = state.readiness.last_error or "migrations are still running"
        return JSONResponse({"status": "not ready", "detail": reason}, status_code=503)

    def check() -> str | None:
        with state.db.engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    try:
        # A thread of the event loop's own pool: requests stuck on the database cannot starve it.
        revision = await asyncio.wait_for(asyncio.to_thread(check), READY_CHECK_SECONDS)
    except TimeoutError:
        detail = f"database did not answer within {READY_CHECK_SECONDS:g} s"
        return JSONResponse({"status": "not ready", "detail": detail}, status_code=503)
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

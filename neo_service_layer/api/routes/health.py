"""Liveness, readiness and Prometheus metrics (unauthenticated, as probes and scrapers expect)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel
from sqlalchemy import func, select, text

from neo_service_layer.api.ratelimit import RedisRateLimiter
from neo_service_layer.api.state import app_state
from neo_service_layer.chains.health import chain_readiness
from neo_service_layer.db.migrate import current_revision, head_revision
from neo_service_layer.db.models import Job, JobStatus
from neo_service_layer.errors import NSLError

router = APIRouter(tags=["health"])


class Readiness(BaseModel):
    """``status`` is ``ready`` or ``not_ready``; one entry per dependency in ``checks``."""

    status: str
    checks: dict[str, dict[str, Any]]


@router.get("/healthz", name="health.live")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    name="health.ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency is not ready"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Every dependency this process needs answers: database (migrated), enclave, and Redis and the chains
    when configured."""
    state = app_state(request)
    checks: dict[str, dict[str, Any]] = {}
    try:
        async with state.db.session() as session:
            await session.execute(text("SELECT 1"))
        revision = await current_revision(state.db)
        head = head_revision()
        checks["database"] = {"ok": revision == head, "revision": revision, "expected": head}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    try:
        ping = await state.enclave.ping()
        checks["enclave"] = {"ok": True, "tee": ping.tee, "backend": ping.backend}
    except NSLError as exc:
        checks["enclave"] = {"ok": False, "error": exc.code}
    if isinstance(state.limiter, RedisRateLimiter):
        try:
            checks["redis"] = {"ok": await state.limiter.ping()}
        except Exception as exc:
            checks["redis"] = {"ok": False, "error": type(exc).__name__}
    checks.update(await chain_readiness(state.settings))
    ready = all(check["ok"] for check in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503
    )


@router.get(
    "/metrics",
    name="health.metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Metrics"}},
)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition; the job queue depth is read from the database at scrape time."""
    state = app_state(request)
    async with state.db.session() as session:
        counts = (await session.execute(select(Job.status, func.count()).group_by(Job.status))).all()
    depth = {str(status): int(count) for status, count in counts}
    for status in JobStatus:
        state.metrics.job_queue_depth.labels(status).set(depth.get(status, 0))
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

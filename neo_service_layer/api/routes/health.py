"""Liveness, readiness and Prometheus metrics (no API credential, as probes and scrapers expect; /metrics
can ask for a token of its own and be served on a listener of its own: settings ``metrics_*``)."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from neo_service_layer.api.auth import client_address
from neo_service_layer.api.auth_failures import METRICS_TOKEN, failure_of
from neo_service_layer.api.routes import problems
from neo_service_layer.api.state import AppState, app_state
from neo_service_layer.errors import Unauthenticated

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
    when configured. The result is reused for ``readiness_cache_seconds`` (default 1 s)."""
    checks = await app_state(request).readiness.checks()
    ready = all(check["ok"] for check in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503
    )


@router.get(
    "/metrics",
    name="health.metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Metrics"},
        **problems(401),
    },
)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition; the job queue depth, the price feeds and the function runs are read
    from the database at scrape time, the sandbox pool from the enclave.

    With ``metrics_token`` set, the scraper must send ``Authorization: Bearer <token>``."""
    state = app_state(request)
    _require_metrics_token(request, state)
    async with state.db.session() as session:
        await state.metrics.observe_job_queue(session)
        await state.metrics.observe_price_feeds(session)
        await state.metrics.observe_functions(session)
    await state.metrics.observe_sandbox_pool(state.enclave)
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


def _require_metrics_token(request: Request, state: AppState) -> None:
    expected = state.settings.metrics_token
    if expected is None:
        return
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    presented = presented.strip() if scheme.lower() == "bearer" else ""
    # compare_digest: the time taken does not tell how much of a guess was right.
    if presented and hmac.compare_digest(presented.encode(), expected.get_secret_value().encode()):
        return
    error = Unauthenticated(
        "/metrics needs the metrics token: Authorization: Bearer <token>",
        reason="invalid" if presented else "missing",
    )
    state.auth_failures.record(failure_of(error, METRICS_TOKEN, None, client_address(request)))
    raise error

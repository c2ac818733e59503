"""Everything a running API app holds, created once at start-up and reached through ``request.app``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from neo_service_layer.api.auth_cache import AuthCache
from neo_service_layer.api.auth_failures import AuthFailureMonitor
from neo_service_layer.api.metrics import ApiMetrics
from neo_service_layer.api.ratelimit import RateLimiter
from neo_service_layer.api.readiness import ReadinessProbe
from neo_service_layer.config import Settings
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import EnclaveClient
from neo_service_layer.services.accounts.tokens import TokenSigner
from neo_service_layer.services.audit.writer import AuditSink


@dataclass(slots=True)
class AppState:
    settings: Settings
    db: Database
    signer: TokenSigner
    limiter: RateLimiter
    metrics: ApiMetrics
    auth_cache: AuthCache
    enclave: EnclaveClient
    # Group commit of the audit entries that have no transaction of their own (api.context).
    audit: AuditSink
    # Counts, logs and audits (per minute, in aggregate) refused credentials.
    auth_failures: AuthFailureMonitor
    # /readyz results, cached for readiness_cache_seconds.
    readiness: ReadinessProbe


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.nsl
    return state

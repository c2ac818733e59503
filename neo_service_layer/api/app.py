"""The FastAPI application: ``create_app(settings)`` wires state, middleware, error handlers and routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from neo_service_layer import __version__
from neo_service_layer.api.auth_cache import AuthCache
from neo_service_layer.api.auth_failures import AuthFailureMonitor
from neo_service_layer.api.gc_tuning import tuned_for_serving
from neo_service_layer.api.metrics import ApiMetrics, multiprocess_dir
from neo_service_layer.api.middleware import RequestContextMiddleware
from neo_service_layer.api.openapi import install as declare_security
from neo_service_layer.api.problems import install_problem_handlers
from neo_service_layer.api.ratelimit import make_rate_limiter
from neo_service_layer.api.readiness import ReadinessProbe, check_dependencies
from neo_service_layer.api.route_index import install as index_routes
from neo_service_layer.api.routes import (
    account,
    admin,
    api_keys,
    attestation,
    audit,
    auth,
    feeds,
    functions,
    health,
    keys,
    master_key,
    oracle,
    randomness,
    secrets,
)
from neo_service_layer.api.state import AppState
from neo_service_layer.config import Settings
from neo_service_layer.db.migrate import upgrade
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.services.accounts.tokens import TokenSigner
from neo_service_layer.services.audit.relay import AuditRelayClient
from neo_service_layer.services.audit.writer import AuditWriter, configured_writer

DESCRIPTION = (
    "Off-chain services for Neo N3 and Neo X smart contracts, run in a trusted execution environment. "
    "Errors are RFC 9457 problem details with a stable `code`."
)


NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def _audit_sink(settings: Settings, db: Database, metrics: ApiMetrics) -> AuditWriter | AuditRelayClient:
    """Where entries with no transaction of their own go: the one writer process of ``nsl api
    --workers N`` when it set ``audit.relay_socket``, else this process's own writer."""
    if settings.audit.relay_socket is not None:
        return AuditRelayClient(
            settings.audit.relay_socket, timeout_seconds=settings.audit.relay_timeout_seconds
        )
    return configured_writer(db, settings, on_batch=metrics.observe_audit_batch)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API app. Its state is created in the lifespan, so building it has no side effects."""
    settings = settings or Settings()
    metrics = ApiMetrics(multiprocess_dir())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.effective_database_url)
        await upgrade(db)
        redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
        limiter = make_rate_limiter(redis_url)
        signer = TokenSigner.from_file(
            settings.effective_jwt_key_file, settings.jwt_issuer, settings.jwt_max_ttl_seconds
        )
        # Connects lazily: the API starts (and answers /readyz with "enclave down") before the enclave does.
        enclave = UnixEnclaveClient.from_settings(settings)
        audit = _audit_sink(settings, db, metrics)
        await audit.start()
        auth_failures = AuthFailureMonitor(
            metrics.auth_failures, audit, max_keys=settings.auth_failure_audit_max_keys
        )
        await auth_failures.start()
        readiness = ReadinessProbe(
            lambda: check_dependencies(app.state.nsl), settings.readiness_cache_seconds
        )
        app.state.nsl = AppState(
            settings,
            db,
            signer,
            limiter,
            metrics,
            AuthCache(settings.auth_cache_seconds),
            enclave,
            audit,
            auth_failures,
            readiness,
        )
        try:
            with tuned_for_serving():  # once everything the process keeps is built (api.gc_tuning)
                yield
        finally:
            await readiness.close()
            # Before the audit writer stops: its last aggregate entries go through the writer.
            await auth_failures.stop()
            # Then the writer: it drains its queue, committing the entries of requests still being answered.
            await audit.stop()
            await enclave.close()
            await limiter.close()
            await db.dispose()

    app = FastAPI(
        title="Neo Service Layer",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry off: the platform exports no traces (its metrics are Prometheus,
        # api.metrics), and with it on FastAPI asks OpenTelemetry for its three providers on every
        # request (~5 µs of CPU each: docs/performance.md, "Fifth round").
        telemetry=NO_TELEMETRY,
    )
    install_problem_handlers(app)
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
        metrics_port=settings.metrics_port,
    )
    for module in (
        health,
        auth,
        admin,
        account,
        api_keys,
        audit,
        attestation,
        keys,
        secrets,
        master_key,
        randomness,
        oracle,
        feeds,
        functions,
    ):
        app.include_router(module.router)
    # Each request is matched against the routers its path can reach, not all of them (api.route_index).
    index_routes(app)
    # The routes' requirements read the credentials themselves; the document still declares the schemes.
    declare_security(app)
    return app

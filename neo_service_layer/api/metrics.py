"""Prometheus metrics of one app instance (its own registry: no module-level singletons)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import Job, JobStatus
from neo_service_layer.enclave.client import EnclaveClient
from neo_service_layer.services.functions.metrics import FunctionRunsCollector, SandboxPoolCollector
from neo_service_layer.services.pricefeed.metrics import PriceFeedCollector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    """Request counts, latency per route template, job queue depth per status, refused credentials, and
    the price feeds (``services.pricefeed.metrics``), function runs and the enclave's sandbox pool
    (``services.functions.metrics``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "nsl_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "nsl_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.job_queue_depth = Gauge(
            "nsl_job_queue_depth", "Jobs in the queue by status", ["status"], registry=self.registry
        )
        # Labels from fixed sets only (api.auth_failures): a key prefix or client address would let
        # anyone grow the registry without bound; those go to the logs and the audit log instead.
        self.auth_failures = Counter(
            "nsl_auth_failures",
            "Refused credentials by kind and reason",
            ["credential", "reason"],
            registry=self.registry,
        )
        self.price_feeds = PriceFeedCollector(self.registry)
        self.functions = FunctionRunsCollector(self.registry)
        self.sandbox_pool = SandboxPoolCollector(self.registry)
        # The labelled children per (method, route template, status): labels() validates and
        # locks on every call. Bounded like the labels themselves (route templates, not paths).
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        children = self._children.get((method, route, status))
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
            self._children[method, route, status] = children
        children[0].inc()
        children[1].observe(seconds)

    async def observe_job_queue(self, session: AsyncSession) -> None:
        """Set the queue depth per status from the ``jobs`` table (read at scrape time)."""
        counts = (await session.execute(select(Job.status, func.count()).group_by(Job.status))).all()
        depth = {status: int(count) for status, count in counts}
        for status in JobStatus:
            self.job_queue_depth.labels(status).set(depth.get(status, 0))

    async def observe_price_feeds(self, session: AsyncSession) -> None:
        """Read the price feeds' state from the database (at scrape time)."""
        await self.price_feeds.refresh(session, utcnow())

    async def observe_functions(self, session: AsyncSession) -> None:
        """Read the function runs' counts and durations from the database (at scrape time)."""
        await self.functions.refresh(session, utcnow())

    async def observe_sandbox_pool(self, enclave: EnclaveClient) -> None:
        """Ask the enclave how its sandbox pool stands (at scrape time)."""
        await self.sandbox_pool.refresh(enclave)

    def render(self) -> bytes:
        return generate_latest(self.registry)

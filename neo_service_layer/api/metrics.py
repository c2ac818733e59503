"""Prometheus metrics of one app instance (its own registry: no module-level singletons).

With ``nsl api --workers N`` every worker counts its own requests, and a scrape reaches whichever worker
accepts it: each would show its share only, and successive scrapes would go up and down as they land on
different workers. So the supervisor gives the workers prometheus_client's multiprocess mode (a
directory in ``PROMETHEUS_MULTIPROC_DIR``: each process keeps its values in a file of its own there)
and every worker answers a scrape with the sum over all the files, those of replaced workers included,
so the counters never go back.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import Job, JobStatus
from neo_service_layer.enclave.client import EnclaveClient
from neo_service_layer.services.functions.metrics import FunctionRunsCollector, SandboxPoolCollector
from neo_service_layer.services.pricefeed.metrics import PriceFeedCollector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# prometheus_client's own variable, read when it is imported (so not an NSL setting: a setting loads
# later); set by the supervisor of several workers (api.server.supervise_workers) for them.
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The directory shared by the workers of ``nsl api --workers N`` for their metrics, else None."""
    return os.environ.get(MULTIPROCESS_DIR_ENV) or None


class ApiMetrics:
    """Request counts, latency per route template, job queue depth per status, refused credentials, and
    the price feeds (``services.pricefeed.metrics``), function runs and the enclave's sandbox pool
    (``services.functions.metrics``).

    ``shared_dir``: the workers' multiprocess directory (:func:`multiprocess_dir`); then :meth:`render`
    sums every worker's counts, and the values read at scrape time are this worker's fresh reading."""

    def __init__(self, shared_dir: str | None = None) -> None:
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
            "nsl_job_queue_depth",
            "Jobs in the queue by status",
            ["status"],
            registry=self.registry,
            # Several workers: the value the scraped worker has just read, not one series per process.
            multiprocess_mode="mostrecent",
        )
        # Labels from fixed sets only (api.auth_failures): a key prefix or client address would let
        # anyone grow the registry without bound; those go to the logs and the audit log instead.
        self.auth_failures = Counter(
            "nsl_auth_failures",
            "Refused credentials by kind and reason",
            ["credential", "reason"],
            registry=self.registry,
        )
        # The group commit of audit entries (services/audit/writer): entries / batches is the mean batch,
        # over which each commit's fixed cost is shared. Not counted where several workers on SQLite
        # hand their entries to the one audit-writer process (it serves no /metrics).
        self.audit_batches = Counter(
            "nsl_audit_batches",
            "Audit batches committed by the API's group-commit writer",
            registry=self.registry,
        )
        self.audit_batch_entries = Counter(
            "nsl_audit_batch_entries", "Audit entries in those batches", registry=self.registry
        )
        self.price_feeds = PriceFeedCollector(self.registry)
        self.functions = FunctionRunsCollector(self.registry)
        self.sandbox_pool = SandboxPoolCollector(self.registry)
        self._exposed = self.registry
        if shared_dir is not None:
            # The counters, histogram and gauge from every worker's file; the collectors as they are.
            self._exposed = CollectorRegistry()
            MultiProcessCollector(self._exposed, path=shared_dir)  # type: ignore[no-untyped-call]
            for collector in (self.price_feeds, self.functions, self.sandbox_pool):
                self._exposed.register(collector)
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

    def observe_audit_batch(self, entries: int) -> None:
        """Count one committed audit batch of ``entries`` entries."""
        self.audit_batches.inc()
        self.audit_batch_entries.inc(entries)

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
        """The Prometheus text exposition of every metric (summed over the workers when shared)."""
        return generate_latest(self._exposed)

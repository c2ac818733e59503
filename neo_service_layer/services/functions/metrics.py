"""Prometheus metrics of function runs, read from ``function_runs`` at scrape time (as the price feeds').

Runs end in two kinds of process: sync runs in the API's, async runs in the worker's, which exposes no
metrics of its own — and several of each may run. The table is the one place that knows every run, so
the API's ``/metrics`` reads it (:meth:`FunctionRunsCollector.refresh`) and a custom collector exposes
the snapshot: ``nsl_function_runs_total{status}`` (ended runs by final status) and
``nsl_function_run_duration_seconds`` (a histogram of the enclave-measured durations; bucket counts
computed in SQL).

Incremental, so a scrape reads the recent runs only, not the whole table: an ended run never changes
again (``runner.run_queued`` and ``runner.abandon`` leave an ended run alone) and ids sort by the time
they were made (``ids.new_id``), so the runs below a *frontier* id are summed once and kept. The
frontier is the id made :data:`SETTLE_LAG` ago, held back by the oldest run not yet ended: a sync run's
row is written when it ends, after its id was made, and an async run waits queued for a worker. Each
scrape then reads two ranges of the primary key: the runs that just fell below the new frontier (added
to the kept sums) and those above it. A process starts from an empty frontier: its first scrape reads
every run once. Runs deleted with their account stay counted here (a counter never goes down) until
the process restarts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.enclave.client import EnclaveClient
from neo_service_layer.enclave.opdefs.functions import POOL_STATS, PoolStatsResult
from neo_service_layer.enclave.schemas import NoArgs
from neo_service_layer.errors import NSLError
from neo_service_layer.ids import IdPrefix, id_floor
from neo_service_layer.services.functions.models import FunctionRun
from neo_service_layer.services.functions.service import QUEUED, RUNNING

#: Upper bounds in seconds, from a cold run's few milliseconds up to the operator's maximum time (60 s).
DURATION_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


#: How long after its id is made a run's row may still be written or end: the operator's maximum time
#: limit (60 s) and the pool's grace, with room for clock skew between the processes that make ids.
SETTLE_LAG: Final = timedelta(minutes=5)
#: Not yet ended: such a run holds the frontier back (module docstring).
_PENDING: Final = (QUEUED, RUNNING)


@dataclass(frozen=True, slots=True)
class RunsSample:
    """Ended runs: counts by status, and the durations' cumulative bucket counts."""

    by_status: Mapping[str, int] = field(default_factory=dict)
    #: Runs with ``duration_ms <= bound * 1000``, per bound of :data:`DURATION_BUCKETS`.
    buckets: tuple[int, ...] = tuple(0 for _ in DURATION_BUCKETS)
    timed: int = 0  # runs with a duration (a run refused or abandoned before it ran has none)
    total_ms: int = 0

    def plus(self, other: RunsSample) -> RunsSample:
        """Both samples' runs together."""
        statuses = set(self.by_status) | set(other.by_status)
        return RunsSample(
            {s: self.by_status.get(s, 0) + other.by_status.get(s, 0) for s in statuses},
            tuple(a + b for a, b in zip(self.buckets, other.buckets, strict=True)),
            self.timed + other.timed,
            self.total_ms + other.total_ms,
        )


async def ended_runs(session: AsyncSession, *where: ColumnElement[bool]) -> RunsSample:
    """The sample of the ended runs matching ``where`` (one query, grouped by status)."""
    duration = FunctionRun.duration_ms
    in_buckets = [func.sum(case((duration <= round(b * 1000), 1), else_=0)) for b in DURATION_BUCKETS]
    statement = (
        select(FunctionRun.status, func.count(), func.count(duration), func.sum(duration), *in_buckets)
        .where(FunctionRun.status.not_in(_PENDING), *where)
        .group_by(FunctionRun.status)
    )
    sample = RunsSample()
    for status, count, timed, total_ms, *buckets in (await session.execute(statement)).all():
        counts = tuple(int(n or 0) for n in buckets)
        sample = sample.plus(RunsSample({status: int(count)}, counts, int(timed), int(total_ms or 0)))
    return sample


class FunctionRunsCollector(Collector):
    """Exposes the last :meth:`refresh` snapshot (module docstring)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.sample = RunsSample()
        self._kept = RunsSample()  # the ended runs below ``_frontier``: they never change again
        self._frontier = ""  # every run id is above "": nothing is kept yet
        # Guards _kept and _frontier: two concurrent scrapes must not both add the same range.
        self._lock = asyncio.Lock()
        if registry is not None:
            registry.register(self)

    async def refresh(self, session: AsyncSession, now: datetime) -> None:
        """Read the runs since the frontier, and move the frontier on (module docstring)."""
        async with self._lock:
            frontier = id_floor(IdPrefix.FUNCTION_RUN, int((now - SETTLE_LAG).timestamp() * 1000))
            oldest_pending = (
                await session.execute(
                    select(func.min(FunctionRun.id)).where(
                        FunctionRun.id >= self._frontier, FunctionRun.status.in_(_PENDING)
                    )
                )
            ).scalar_one_or_none()
            if oldest_pending is not None:
                frontier = min(frontier, oldest_pending)
            if frontier > self._frontier:
                passed = await ended_runs(
                    session, FunctionRun.id >= self._frontier, FunctionRun.id < frontier
                )
                self._kept, self._frontier = self._kept.plus(passed), frontier
            recent = await ended_runs(session, FunctionRun.id >= self._frontier)
            self.sample = self._kept.plus(recent)

    def describe(self) -> Iterable[Metric]:
        # Families without samples: registering must not run a scrape (no database at registration).
        return list(self._families(None))

    def collect(self) -> Iterable[Metric]:
        return list(self._families(self.sample))

    @staticmethod
    def _families(sample: RunsSample | None) -> Iterator[Metric]:
        runs = CounterMetricFamily("nsl_function_runs", "Function runs by final status", labels=["status"])
        duration = HistogramMetricFamily(
            "nsl_function_run_duration_seconds", "Function run duration as the enclave measured it"
        )
        if sample is not None:
            for status, count in sorted(sample.by_status.items()):
                runs.add_metric([status], count)
            bounds = [(str(b), float(n)) for b, n in zip(DURATION_BUCKETS, sample.buckets, strict=True)]
            duration.add_metric([], [*bounds, ("+Inf", float(sample.timed))], sample.total_ms / 1000)
        yield from (runs, duration)


class SandboxPoolCollector(Collector):
    """The enclave's sandbox pool as the last :meth:`refresh` found it (``functions.pool_stats``):
    ``nsl_function_sandbox_processes`` (kept warm), ``nsl_function_sandbox_idle`` and
    ``nsl_function_sandbox_replaced_total`` (processes replaced after a limit breach or a crash since
    the enclave started). Absent while the enclave does not answer or runs no sandbox: a stale number
    would say the pool is fine when nothing is known."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.stats: PoolStatsResult | None = None
        if registry is not None:
            registry.register(self)

    async def refresh(self, enclave: EnclaveClient) -> None:
        """Ask the enclave how its pool stands; forget the last answer when it cannot say."""
        try:
            self.stats = await enclave.run(POOL_STATS, NoArgs())
        except NSLError:
            self.stats = None

    def describe(self) -> Iterable[Metric]:
        return list(self._families(None))

    def collect(self) -> Iterable[Metric]:
        return list(self._families(self.stats))

    @staticmethod
    def _families(stats: PoolStatsResult | None) -> Iterator[Metric]:
        processes = GaugeMetricFamily("nsl_function_sandbox_processes", "Sandbox processes the pool keeps")
        idle = GaugeMetricFamily("nsl_function_sandbox_idle", "Sandbox processes idle now")
        replaced = CounterMetricFamily(
            "nsl_function_sandbox_replaced", "Sandbox processes replaced after a limit breach or a crash"
        )
        if stats is not None:
            processes.add_metric([], stats.size)
            idle.add_metric([], stats.idle)
            replaced.add_metric([], stats.replaced)
        yield from (processes, idle, replaced)

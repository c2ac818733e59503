"""Prometheus metrics of function runs, read from ``function_runs`` at scrape time (as the price feeds').

Runs end in two kinds of process: sync runs in the API's, async runs in the worker's, which exposes no
metrics of its own — and several of each may run. The table is the one place that knows every run, so
the API's ``/metrics`` reads it (:meth:`FunctionRunsCollector.refresh`, one grouped query) and a custom
collector exposes the snapshot: ``nsl_function_runs_total{status}`` (ended runs by final status: a
count of rows that only grows while runs are kept) and ``nsl_function_run_duration_seconds`` (a
histogram of the enclave-measured durations, bucket counts computed in the same query).

The query reads every run row (no index on status: it would need a migration); measured in
docs/functions.md §8.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

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


@dataclass(frozen=True, slots=True)
class RunsSample:
    """The ended runs at a scrape: counts by status, and the durations' cumulative bucket counts."""

    by_status: Mapping[str, int] = field(default_factory=dict)
    #: Runs with ``duration_ms <= bound * 1000``, per bound of :data:`DURATION_BUCKETS`.
    buckets: tuple[int, ...] = tuple(0 for _ in DURATION_BUCKETS)
    timed: int = 0  # runs with a duration (a run refused before it ran has none)
    seconds: float = 0.0


class FunctionRunsCollector(Collector):
    """Exposes the last :meth:`refresh` snapshot (module docstring)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.sample = RunsSample()
        if registry is not None:
            registry.register(self)

    async def refresh(self, session: AsyncSession) -> None:
        """Read the ended runs' counts and durations (one query, grouped by status)."""
        duration = FunctionRun.duration_ms
        bucket_columns = [
            func.sum(case((duration <= round(bound * 1000), 1), else_=0)) for bound in DURATION_BUCKETS
        ]
        statement = (
            select(
                FunctionRun.status, func.count(), func.count(duration), func.sum(duration), *bucket_columns
            )
            .where(FunctionRun.status.not_in((QUEUED, RUNNING)))
            .group_by(FunctionRun.status)
        )
        by_status: dict[str, int] = {}
        buckets = [0] * len(DURATION_BUCKETS)
        timed = total_ms = 0
        for status, count, with_duration, sum_ms, *in_buckets in (await session.execute(statement)).all():
            by_status[status] = int(count)
            timed += int(with_duration)
            total_ms += int(sum_ms or 0)
            buckets = [b + int(n or 0) for b, n in zip(buckets, in_buckets, strict=True)]
        self.sample = RunsSample(by_status, tuple(buckets), timed, total_ms / 1000)

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
            bounds = [
                (str(bound), float(n)) for bound, n in zip(DURATION_BUCKETS, sample.buckets, strict=True)
            ]
            duration.add_metric([], [*bounds, ("+Inf", float(sample.timed))], sample.seconds)
        yield from (runs, duration)

"""Prometheus metrics of function runs: runs by how they ended, and how long they took."""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram

#: From a cold run's few milliseconds up to the operator's maximum time limit (60 s).
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


class FunctionMetrics:
    """``nsl_function_runs_total{status}`` and ``nsl_function_run_duration_seconds`` (enclave-measured)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter(
            "nsl_function_runs", "Function runs by final status", ["status"], registry=registry
        )
        self.duration = Histogram(
            "nsl_function_run_duration_seconds",
            "Function run duration as the enclave measured it",
            buckets=DURATION_BUCKETS,
            registry=registry,
        )

    def observe(self, status: str, duration_ms: int | None) -> None:
        """Count one ended run (status from a fixed set: ``RunStatus``)."""
        self.runs.labels(status).inc()
        if duration_ms is not None:
            self.duration.observe(duration_ms / 1000)

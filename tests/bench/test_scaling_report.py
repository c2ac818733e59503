"""bench/scaling_report.py: the capacity is each count's most req/s over the loads, and its speed-up."""

from __future__ import annotations

import argparse
import io

import pytest
from rich.console import Console

from bench.api import BARE, OURS, Summary
from bench.scaling_report import Point, capacity, report


def _point(concurrency: int, workers: int, target: str, rps: float) -> Point:
    summary = Summary(
        target=target,
        endpoint="/",
        seconds=1.0,
        requests=int(rps),
        errors=0,
        rps=rps,
        p50_ms=1.0,
        p90_ms=2.0,
        p99_ms=3.0,
        max_ms=4.0,
        server_cpu=1.0,
        server_cpu_us_per_request=100.0,
        client_cpu=0.1,
        other_cpu=0.2,
        rounds=[],
    )
    return Point(concurrency, workers, summary, None if workers == 1 else 0.5, {"workers": 100.0}, 2)


# (connections, workers, target, req/s): ours' second worker only pays off with more in flight.
CURVE = [
    (16, 1, OURS, 3_200.0),
    (64, 1, OURS, 3_400.0),
    (16, 2, OURS, 4_500.0),
    (64, 2, OURS, 5_800.0),
    (16, 1, BARE, 11_000.0),
    (64, 1, BARE, 10_800.0),
    (16, 2, BARE, 18_000.0),
    (64, 2, BARE, 19_000.0),
]


@pytest.mark.parametrize(
    ("workers", "target", "rps", "connections"),
    [(1, OURS, 3_400.0, 64), (2, OURS, 5_800.0, 64), (1, BARE, 11_000.0, 16), (2, BARE, 19_000.0, 64)],
)
def test_capacity_is_the_most_served_at_any_load(
    workers: int, target: str, rps: float, connections: int
) -> None:
    best = capacity([_point(*row) for row in CURVE])
    assert set(best) == {(1, OURS), (2, OURS), (1, BARE), (2, BARE)}
    assert best[workers, target].summary.rps == rps
    assert best[workers, target].concurrency == connections


def test_the_report_gives_each_load_and_the_capacity_with_its_speed_up() -> None:
    out = io.StringIO()
    args = argparse.Namespace(
        database_url="postgresql+asyncpg://x/nsl_bench",
        concurrencies=(16, 64),
        workers=(1, 2),
        duration=6.0,
        rounds=2,
        warmup=1.0,
    )
    result = report(
        Console(file=out, width=200), [_point(*row) for row in CURVE], {1: 1.0, 2: 1.9}, args, audited=10
    )
    text = out.getvalue()
    # At 16 connections ours' two workers give 1.41x; their capacity, 5,800 over 3,400, 1.71x.
    assert "ours 1.41x, bare 1.64x" in text
    assert "capacity, 2 workers: ours is 30.5% of bare" in text
    assert "ours 1.71x, bare 1.73x" in text
    assert result["info"]["capacity"] == [
        {"workers": 1, "target": BARE, "rps": 11_000.0, "concurrency": 16},
        {"workers": 1, "target": OURS, "rps": 3_400.0, "concurrency": 64},
        {"workers": 2, "target": BARE, "rps": 19_000.0, "concurrency": 64},
        {"workers": 2, "target": OURS, "rps": 5_800.0, "concurrency": 64},
    ]
    assert [(p["concurrency"], p["workers"]) for p in result["points"]][:2] == [(16, 1), (64, 1)]


def test_speed_ups_are_over_the_first_count_given() -> None:
    out = io.StringIO()
    args = argparse.Namespace(
        database_url=None, concurrencies=(16, 64), workers=(2, 1), duration=6.0, rounds=2, warmup=1.0
    )
    report(Console(file=out, width=200), [_point(*row) for row in CURVE], {1: 1.0, 2: 1.9}, args, audited=10)
    # Ours' one worker against its two at capacity: 3,400 / 5,800 req/s.
    assert "│       1 │ ours   │  3,400 │    0.59x │" in out.getvalue()

"""The report of ``bench/scaling.py``: the curve at each load, where the CPU went, and the capacity.

A point is one (load, worker count, target). For each load (connections in flight) the report prints
the curve (req/s and the speed-up over the first worker count) and the CPU per request by process.
Then the *capacity*: for each worker count and target, the most it served at any load measured, and
the speed-up of those. At a fixed load a server with more workers has fewer requests in flight per
worker; where a request also waits (ours: for its audit entry's group commit and the Redis call), a
load that keeps one worker busy leaves two partly idle, so the speed-up at that load understates what
the second worker adds. The capacity is what each count serves once there are enough requests to keep
its workers busy (docs/performance.md, "Scale-out").
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.api import BARE, OURS, Summary

TARGETS = (OURS, BARE)
# The services on the request path, by process name (/proc/<pid>/comm).
SERVICES = {"postgres": "PostgreSQL", "redis-server": "Redis"}
WRITER = "audit writer"
WORKERS = "workers"
CLIENT = "client"
REST = "rest"


@dataclass(slots=True)
class Point:
    """One (load, worker count, target) of the curve."""

    concurrency: int
    workers: int
    summary: Summary
    # The busiest worker's share of the workers' CPU time over the windows (1/N: perfectly even).
    busiest_worker_share: float | None
    # Where the machine's CPU went, in µs per request: the workers, the audit writer process, each
    # service of SERVICES, the load generator, the rest (empty off Linux).
    cpu_us_per_request: dict[str, float]
    cores: int


def capacity(points: list[Point]) -> dict[tuple[int, str], Point]:
    """For each (worker count, target), its point with the most req/s over the loads measured."""
    best: dict[tuple[int, str], Point] = {}
    for point in points:
        key = (point.workers, point.summary.target)
        if key not in best or point.summary.rps > best[key].summary.rps:
            best[key] = point
    return best


def report(
    console: Console, points: list[Point], machine: dict[int, float], args: argparse.Namespace, audited: int
) -> dict[str, Any]:
    """Print the curve at each load, then the capacity (``machine``: the CPU loop's speed-up at each
    count), and return it all JSON-ready."""
    database = "PostgreSQL" if args.database_url else "SQLite"
    for concurrency in args.concurrencies:
        at_load = [p for p in points if p.concurrency == concurrency]
        title = f"NSL scale-out ({database}, Redis rate limiter, {concurrency} connections)"
        console.print(_curve_table(at_load, args.workers[0], title))
        console.print(_cpu_table(at_load, args.workers[0]))
        _print_speed_ups(console, at_load, machine, args.workers, f"at {concurrency} connections")
    best = capacity(points)
    console.print(_capacity_table(best, args.workers))
    _print_speed_ups(console, list(best.values()), machine, args.workers, "capacity")
    measured = sum(p.summary.requests for p in points if p.summary.target == OURS)
    console.print(
        f"  - audit entries written: {audited:,} for {measured:,} measured requests to ours (warm-ups too); "
        "busiest worker = its share of the workers' CPU (1/N is even); server CPU = supervisor + workers; "
        "other CPU = every other process (PostgreSQL and Redis too)."
    )
    return {
        "info": {
            "database": database,
            "rate_limiter": "Redis",
            "concurrencies": list(args.concurrencies),
            "duration_per_target": args.duration,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "workers": list(args.workers),
            "audit_entries_written": audited,
            # A pure-Python CPU loop in N processes at once over one process (bench/machine.py).
            "machine_speed_up": {str(workers): ratio for workers, ratio in machine.items()},
            # Each (workers, target)'s most req/s over the loads, and the load it was measured at.
            "capacity": [
                {"workers": w, "target": t, "rps": p.summary.rps, "concurrency": p.concurrency}
                for (w, t), p in sorted(best.items())
            ],
        },
        "points": [
            {
                "concurrency": p.concurrency,
                "workers": p.workers,
                "busiest_worker_share": p.busiest_worker_share,
                "cpu_us_per_request": p.cpu_us_per_request,
                "cores": p.cores,
            }
            | asdict(p.summary)
            for p in points
        ],
    }


def _ordered(points: list[Point]) -> list[Point]:
    return sorted(points, key=lambda p: (p.summary.target != OURS, p.workers))


def _first_rps(points: list[Point], first: int) -> dict[str, float]:
    """Each target's req/s at ``first`` workers, the first count measured (the speed-ups' base)."""
    return {p.summary.target: p.summary.rps for p in points if p.workers == first}


def _table(title: str, columns: tuple[str, ...]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column == "target" else "right")
    return table


def _lead_cells(point: Point, base: dict[str, float]) -> tuple[str, str, str, str]:
    """A row's first cells: workers, target, req/s and the speed-up over ``base`` (the target's first)."""
    rps = base.get(point.summary.target)
    speed_up = f"{point.summary.rps / rps:.2f}x" if rps else "n/a"
    return str(point.workers), point.summary.target, f"{point.summary.rps:,.0f}", speed_up


_LEAD_COLUMNS = ("workers", "target", "req/s", "speed-up")


def _curve_table(points: list[Point], first: int, title: str) -> Table:
    columns = ("p50 ms", "p99 ms", "server CPU", "server µs/req", "client CPU", "other CPU", "busiest worker")
    table = _table(title, (*_LEAD_COLUMNS, *columns, "errors"))
    base = _first_rps(points, first)
    for point in _ordered(points):
        s = point.summary
        table.add_row(
            *_lead_cells(point, base),
            f"{s.p50_ms:.2f}",
            f"{s.p99_ms:.2f}",
            "n/a" if s.server_cpu is None else f"{s.server_cpu:.0%}",
            "n/a" if s.server_cpu_us_per_request is None else f"{s.server_cpu_us_per_request:,.0f}",
            f"{s.client_cpu:.0%}",
            "n/a" if s.other_cpu is None else f"{s.other_cpu:.0%}",
            "n/a" if point.busiest_worker_share is None else f"{point.busiest_worker_share:.0%}",
            str(s.errors),
        )
    return table


def _cpu_table(points: list[Point], first: int) -> Table:
    """Where each point's CPU went per request, and what the machine's cores would serve at that cost."""
    parts = (WORKERS, WRITER, *SERVICES.values(), CLIENT, REST)
    table = _table(
        "CPU per request by process (µs), and the cores' bound: cores / (all CPU per request)",
        ("workers", "target", *parts, "all", "busy cores", "bound req/s", "bound speed-up"),
    )
    base = _first_rps(points, first)
    for point in _ordered(points):
        used = point.cpu_us_per_request
        total = sum(used.values())
        bound = point.cores * 1e6 / total if total else None
        table.add_row(
            str(point.workers),
            point.summary.target,
            *(f"{used[part]:,.0f}" if part in used else "n/a" for part in parts),
            f"{total:,.0f}",
            f"{total * point.summary.rps / 1e6:.2f} of {point.cores}",
            "n/a" if bound is None else f"{bound:,.0f}",
            "n/a"
            if bound is None or not base.get(point.summary.target)
            else f"{bound / base[point.summary.target]:.2f}x",
        )
    return table


def _capacity_table(best: dict[tuple[int, str], Point], workers: tuple[int, ...]) -> Table:
    table = _table(
        "Capacity: the most req/s at any load measured",
        (*_LEAD_COLUMNS, "at connections", "p99 ms", "server µs/req"),
    )
    points = [best[n, target] for target in TARGETS for n in workers]
    base = _first_rps(points, workers[0])
    for point in points:
        s = point.summary
        table.add_row(
            *_lead_cells(point, base),
            str(point.concurrency),
            f"{s.p99_ms:.2f}",
            "n/a" if s.server_cpu_us_per_request is None else f"{s.server_cpu_us_per_request:,.0f}",
        )
    return table


def _print_speed_ups(
    console: Console, points: list[Point], machine: dict[int, float], workers: tuple[int, ...], label: str
) -> None:
    """Ours as a share of bare at each count, and both speed-ups beside the machine's own."""
    by_workers = {(p.workers, p.summary.target): p.summary for p in points}
    first = workers[0]
    base = _first_rps(points, first)
    for n in workers:
        ours, bare = by_workers[n, OURS], by_workers[n, BARE]
        console.print(f"  - {label}, {n} workers: ours is {ours.rps / bare.rps:.1%} of bare at that count")
        if n > first:
            loops = machine[n] / machine[first]
            ours_up, bare_up = ours.rps / base[OURS], bare.rps / base[BARE]
            console.print(
                f"    the machine itself: {n} CPU loops at once did {loops:.2f}x the work of {first} "
                f"in the same minutes (bench/machine.py); ours {ours_up:.2f}x, bare {bare_up:.2f}x"
            )

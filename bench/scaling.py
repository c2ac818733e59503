"""Scale-out benchmark: ours and bare at 1, 2, 4 worker processes on one port (``nsl api --workers N``).

For each worker count N, ``bench.api``'s **ours** (``GET /v1/account``: API key, rate limits in Redis, a
tenant-scoped session, an audit entry) and **bare** (``GET /`` hello world) are served by ``uvicorn
--workers N`` (the supervisor ``nsl api --workers N`` runs) and measured in alternating windows, with
the same load generator, setup and CPU accounting as ``bench/api.py`` (the server's CPU is the
supervisor's and its workers'), at ``--concurrency`` connections (16) and at ``--saturate`` (64). The
report is, at each load, one row per (N, target): req/s, the speed-up over the first N, p50/p99, server
CPU per request, and how evenly the workers shared the work; then the capacity, each (N, target)'s most
req/s at either load, and its speed-up (``bench/scaling_report.py`` says why both). Bare at N is the
ceiling of the same machine for the same N: the fair comparison for ours at N.

The load generator runs on the same machine: on 2 cores it takes CPU the workers could use, so the
curve flattens earlier than on a server with a remote client. So do PostgreSQL, Redis and the audit
writer: a second table splits each point's CPU per request by process (workers, writer, PostgreSQL,
Redis, load generator, the rest of the machine) and gives the cores' bound, what the machine's cores
would serve if every one were busy at that cost per request. The speed-up of N workers over one can
reach neither N nor that bound over the first point. Nor what the machine itself gives: between the
windows of each round a pure-Python CPU loop runs in one process, then in N at once, then in one
again (``bench/machine.py``), and the report sets ours' and bare's speed-ups beside the loops' (a 2-vCPU VM
gave 1.16x to 2.09x within an hour). Exit status as ``bench/api.py``.

Usage: ``python bench/scaling.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/nsl_bench_scale
--redis-url redis://127.0.0.1:6379 [--workers 1,2,4] [--duration 6] [--saturate 64]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvloop
from rich.console import Console

if __package__ in (None, ""):  # run as ``python bench/scaling.py``: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import servers
from bench.api import (
    BARE,
    FACTORIES,
    MAX_ROUNDS,
    MAX_WORKERS,
    OURS,
    PATHS,
    READY_PATHS,
    audit_entries,
    bootstrap_admin,
    http_request,
    nsl_env,
    provision_tenant,
    reset_postgres,
    summarize,
)
from bench.cli import MAX_CONCURRENCY, load_parser, parse_load_args, run_benchmark
from bench.loadgen import (
    Window,
    child_pids,
    cpu_seconds_between,
    cpu_seconds_by_name,
    machine_busy_seconds,
    measure,
    process_cpu_seconds,
    unix_socket_holder,
)
from bench.machine import MIN_SECONDS, scale_out
from bench.scaling_report import CLIENT, REST, SERVICES, TARGETS, WORKERS, WRITER, Point, report
from bench.servers import Server
from neo_service_layer.api.audit_writer import SOCKET_NAME
from neo_service_layer.config import Settings

DEFAULT_WORKERS = (1, 2, 4)
DEFAULT_DURATION = 6.0
DEFAULT_WARMUP = 1.0
DEFAULT_ROUNDS = 2
DEFAULT_CONCURRENCY = 16
# Enough requests in flight to keep two or four workers of ours busy while their requests wait for the
# group commit (docs/performance.md, "Scale-out"): one worker serves no more from 32 on.
DEFAULT_SATURATE = 64
MIN_TABLE_WIDTH = 120


@dataclass(frozen=True, slots=True)
class _CpuParts:
    """CPU clocks of a window's parts at one instant (seconds)."""

    workers: dict[int, float]
    writer: float
    services: dict[int, tuple[str, float]]
    machine: float | None

    @classmethod
    def take(cls, server: Server, writer_pid: int | None) -> _CpuParts:
        per_child = _worker_cpu(server)
        writer = per_child.pop(writer_pid, 0.0) if writer_pid is not None else 0.0
        return cls(per_child, writer, cpu_seconds_by_name(tuple(SERVICES)), machine_busy_seconds())


def _worker_cpu(server: Server) -> dict[int, float]:
    # Every child: the workers, and uvicorn's idle multiprocessing resource tracker (about 0 s).
    return {pid: process_cpu_seconds(pid) or 0.0 for pid in child_pids(server.process.pid)}


def _busiest_share(before: dict[int, float], after: dict[int, float]) -> float | None:
    used = [after[pid] - before[pid] for pid in after if pid in before]
    total = sum(used)
    return max(used) / total if total > 0 else None


def _writer_pid(server: Server) -> int | None:
    """The audit-writer process among the server's children (the one holding its relay socket), if any."""
    return unix_socket_holder(child_pids(server.process.pid), SOCKET_NAME)


def _cpu_seconds_by_part(window: Window) -> dict[str, float]:
    """CPU seconds each part used in ``window`` (measured with ``_CpuParts.take`` as its probe)."""
    if window.probed is None or window.server_cpu is None:
        return {}  # off Linux: no clocks to split
    before, after = window.probed
    parts = {WRITER: after.writer - before.writer}
    # The server's tree: the supervisor and its workers (one worker: the supervisor is it), less the writer.
    parts[WORKERS] = window.server_cpu * window.seconds - parts[WRITER]
    services = cpu_seconds_between(before.services, after.services)
    for name, label in SERVICES.items():
        parts[label] = services.get(name, 0.0)
    parts[CLIENT] = window.client_cpu * window.seconds
    if after.machine is not None and before.machine is not None:
        parts[REST] = max(0.0, after.machine - before.machine - sum(parts.values()))
    return parts


def _measure_workers(
    runner: asyncio.Runner,
    console: Console,
    args: argparse.Namespace,
    workers: int,
    concurrency: int,
    started: dict[str, Server],
    api_key: str,
) -> tuple[dict[str, Point], list[float]]:
    """Each target's point at ``workers`` and ``concurrency`` connections, and the machine's own speed-up
    at that count (bench.machine), measured in each round next to the windows."""
    machine: list[float] = []
    windows: dict[str, list[Window]] = {name: [] for name in TARGETS}
    shares: dict[str, list[float]] = {name: [] for name in TARGETS}
    used: dict[str, Counter[str]] = {name: Counter() for name in TARGETS}
    writers = {name: _writer_pid(server) for name, server in started.items()}
    for round_ in range(1, args.rounds + 1):
        for name in TARGETS if round_ % 2 else tuple(reversed(TARGETS)):
            server = started[name]
            console.print(
                f"{workers} workers, {concurrency} connections, round {round_}/{args.rounds}: {name} ...",
                end=" ",
            )
            window = runner.run(
                measure(
                    name,
                    round_,
                    server.port,
                    server.process.pid,
                    http_request(server.port, PATHS[name], api_key),
                    concurrency=concurrency,
                    warmup=args.warmup,
                    seconds=args.duration / args.rounds,
                    probe=functools.partial(_CpuParts.take, server, writers[name]),
                )
            )
            assert window.probed is not None
            share = _busiest_share(window.probed[0].workers, window.probed[1].workers)
            if share is not None:
                shares[name].append(share)
            used[name].update(_cpu_seconds_by_part(window))
            console.print(f"{window.rps:,.0f} req/s, {window.errors} errors")
            windows[name].append(window)
        if workers > 1:
            machine.append(scale_out(workers, max(MIN_SECONDS, args.duration / args.rounds / 2)))
    points = {}
    for name in TARGETS:
        requests = sum(w.requests for w in windows[name])
        points[name] = Point(
            concurrency,
            workers,
            summarize(name, PATHS[name], windows[name]),
            max(shares[name]) if shares[name] and workers > 1 else None,
            {part: seconds / requests * 1e6 for part, seconds in used[name].items()} if requests else {},
            len(os.sched_getaffinity(0)),
        )
    return points, machine


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """For each worker count: start both servers, measure them alternately at each load, stop them;
    return the report."""
    points: list[Point] = []
    machine: dict[int, float] = {}
    with contextlib.ExitStack() as stack:
        runner = stack.enter_context(asyncio.Runner(loop_factory=uvloop.new_event_loop))
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nsl-bench-")))
        if args.database_url:
            runner.run(reset_postgres(args.database_url, create=True))
            stack.callback(lambda: runner.run(reset_postgres(args.database_url, create=False)))
        database_url = Settings(data_dir=data_dir, database_url=args.database_url).effective_database_url
        admin_key = runner.run(bootstrap_admin(database_url))
        envs = {BARE: servers.server_env({}), OURS: servers.server_env(nsl_env(data_dir, args))}
        api_key: str | None = None
        audit_before = runner.run(audit_entries(database_url))
        for workers in args.workers:
            with contextlib.ExitStack() as running:
                started: dict[str, Server] = {}
                for name in TARGETS:
                    started[name] = servers.start(
                        name,
                        FACTORIES[name],
                        envs[name],
                        data_dir,
                        workers=workers,
                        nsl_app=name == OURS,
                    )
                    running.callback(servers.stop, started[name])
                for name, server in started.items():
                    servers.wait_ready(server, READY_PATHS[name])
                if api_key is None:  # the key lives in the database: every worker count uses it
                    api_key = provision_tenant(started[OURS], admin_key)
                loops: list[float] = []
                for concurrency in args.concurrencies:
                    measured, ratios = _measure_workers(
                        runner, console, args, workers, concurrency, started, api_key
                    )
                    points.extend(measured.values())
                    loops += ratios
                machine[workers] = sum(loops) / len(loops) if loops else 1.0
        audited = runner.run(audit_entries(database_url)) - audit_before
    return report(console, points, machine, args, audited)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = load_parser(
        __doc__, duration=DEFAULT_DURATION, warmup=DEFAULT_WARMUP, concurrency=DEFAULT_CONCURRENCY
    )
    parser.add_argument(
        "--redis-url", required=True, help="the Redis rate limiter, e.g. redis://127.0.0.1:6379"
    )
    parser.add_argument(
        "--workers",
        type=lambda text: tuple(int(part) for part in text.split(",")),
        default=DEFAULT_WORKERS,
        help="worker counts, comma-separated (default 1,2,4)",
    )
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="alternating windows per target")
    parser.add_argument(
        "--saturate",
        type=int,
        default=DEFAULT_SATURATE,
        help="also measure every count at this many connections, for the capacity (default %(default)s; "
        "0: only --concurrency)",
    )
    args = parse_load_args(parser, argv)
    if not args.workers or not all(1 <= n <= MAX_WORKERS for n in args.workers):
        parser.error(f"--workers: counts within 1..{MAX_WORKERS}")
    if not 1 <= args.rounds <= MAX_ROUNDS:
        parser.error(f"--rounds must be within 1..{MAX_ROUNDS}")
    if not 0 <= args.saturate <= MAX_CONCURRENCY:
        parser.error(f"--saturate must be within 0..{MAX_CONCURRENCY}")
    args.concurrencies = tuple(sorted({args.concurrency, args.saturate} - {0}))
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when it ran (whatever the numbers), 1 when the harness failed."""
    return run_benchmark(run, parse_args(argv), min_width=MIN_TABLE_WIDTH)


if __name__ == "__main__":
    sys.exit(main())

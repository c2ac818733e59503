"""Benchmark: an oracle request through the REST API vs a bare httpx GET of the same HTTPS URL, in one run.

A local HTTPS data source (``bench.oracle_data_app`` under uvicorn, a certificate from a local CA:
``devnet.local_tls``), a real enclave subprocess that trusts that CA (``NSL_ORACLE_CA_FILE``) and may
reach 127.0.0.1 (``NSL_ORACLE_ALLOW_PRIVATE_HOSTS``), and a real API server (SQLite by default,
``--database-url`` for PostgreSQL). Three targets, the same URL:

- **api**: ``POST /v1/oracle/requests`` (authenticate, rate limit, enclave op: fetch over TLS, N3
  filter, sign; record and audit in one transaction);
- **fetcher**: ``SafeFetcher.fetch`` + ``apply_filter`` in this process (the enclave's own work, without
  the API, the socket to the enclave, signing or the database);
- **bare**: ``httpx`` GET, a new connection per request as the fetcher makes (no keep-alive).

Reports p50/p99 at concurrency 1 and requests/s at ``--load-concurrency`` (50), the API's overhead over
bare at p50 (aim: < 5 ms), and the seed target (a fetch < 2 s). Exit status 0 whatever the numbers.

Usage: ``python bench/oracle.py [--duration 3] [--load-concurrency 50] [--database-url ...]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import uvloop
from rich.console import Console
from rich.table import Table

if __package__ in (None, ""):  # run as ``python bench/oracle.py``: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import servers
from bench.cli import (
    HarnessError,
    add_load_concurrency_option,
    load_parser,
    parse_load_args,
    run_benchmark,
)
from bench.keys import MIN_TABLE_WIDTH, post_request, start_platform
from bench.loadgen import HOST, measure, percentile
from bench.servers import Server
from neo_service_layer.devnet.local_tls import LocalPKI
from neo_service_layer.enclave.capabilities import HttpRequest
from neo_service_layer.enclave.oracle.fetch import SafeFetcher
from neo_service_layer.enclave.oracle.filter import apply_filter
from neo_service_layer.enclave.oracle.policy import FetchPolicy

DEFAULT_DURATION = 3.0
DEFAULT_WARMUP = 0.5
DEFAULT_LOAD_CONCURRENCY = 50
AIM_OVERHEAD_MS: Final = 5.0  # the issue: our overhead over a bare GET < 5 ms at p50
SEED_TARGET_MS: Final = 2000.0  # the seed target: a fetch under 2 s
PATH: Final = "/v1/oracle/requests"
FILTER: Final = "$.data.price"
# The enclave fetcher's limits raised: one data source takes every request, and its per-host limits
# would otherwise be the bottleneck measured.
ONE_SOURCE_LIMITS: Final = {
    "NSL_ORACLE_MAX_CONCURRENT_PER_HOST": "256",
    "NSL_ORACLE_PER_HOST_RATE_PER_SECOND": "1000000",
    "NSL_ORACLE_PER_HOST_BURST": "1000000",
    "NSL_ORACLE_MAX_CONCURRENT_PER_ACCOUNT": "256",
}


@dataclass(slots=True)
class Row:
    target: str
    concurrency: int
    requests: int
    errors: int
    per_second: float
    p50_ms: float
    p99_ms: float


async def closed_loop(
    call: Callable[[], Awaitable[bool]], concurrency: int, warmup: float, seconds: float
) -> tuple[list[float], int]:
    """Latencies (s) of ``call`` over ``seconds`` after ``warmup``, ``concurrency`` at a time; errors."""
    latencies: list[float] = []
    errors = 0
    recording = False
    deadline = time.monotonic() + warmup + seconds

    async def worker() -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            started = time.perf_counter()
            ok = await call()
            if recording:
                latencies.append(time.perf_counter() - started)
                errors += not ok

    async def switch_on() -> None:
        nonlocal recording
        await asyncio.sleep(warmup)
        recording = True

    await asyncio.gather(switch_on(), *(worker() for _ in range(concurrency)))
    return latencies, errors


def row_of(target: str, concurrency: int, latencies: list[float], errors: int, seconds: float) -> Row:
    ordered = sorted(latencies)
    return Row(
        target,
        concurrency,
        len(ordered),
        errors,
        len(ordered) / seconds,
        percentile(ordered, 0.5) * 1000,
        percentile(ordered, 0.99) * 1000,
    )


async def bare_rows(
    url: str, pki: LocalPKI, args: argparse.Namespace, concurrencies: tuple[int, ...]
) -> list[Row]:
    """httpx GET and SafeFetcher (+ filter) in this process, at each of ``concurrencies``, for
    ``args.duration`` seconds after ``args.warmup``."""
    rows: list[Row] = []
    limits = httpx.Limits(max_keepalive_connections=0)
    request = HttpRequest("GET", url, timeout_seconds=5.0, max_bytes=65535)
    async with (
        httpx.AsyncClient(verify=pki.client_context(), limits=limits, timeout=5.0) as client,
        SafeFetcher(
            FetchPolicy(
                allow_private_hosts=True,
                max_concurrent_per_host=256,
                per_host_rate_per_second=1e9,
                per_host_burst=10**6,
            ),
            ssl_context=pki.client_context(),
        ) as fetcher,
    ):

        async def bare() -> bool:
            return (await client.get(url)).status_code == 200

        async def fetch() -> bool:
            response = await fetcher.fetch(request)
            return bool(apply_filter(response.body, FILTER))

        for name, call in (("bare", bare), ("fetcher", fetch)):
            for concurrency in concurrencies:
                latencies, errors = await closed_loop(call, concurrency, args.warmup, args.duration)
                rows.append(row_of(name, concurrency, latencies, errors, args.duration))
    return rows


@dataclass(frozen=True, slots=True)
class SourcePlatform:
    """What :func:`start_source_platform` started, and the tenant's owner key."""

    runner: asyncio.Runner
    data_dir: Path
    source: servers.HttpsSource
    enclave: Server
    api: Server
    api_key: str


def start_source_platform(
    stack: contextlib.ExitStack,
    database_url: str | None,
    prefix: str,
    extra_env: dict[str, str] | None = None,
) -> SourcePlatform:
    """An event loop, a temp data dir (``prefix``), the local HTTPS data source, and the enclave (trusting
    the source, its fetcher's per-host limits raised: :data:`ONE_SOURCE_LIMITS`) and the API as their
    own processes (``bench.keys.start_platform``), all stopped or removed by ``stack``."""
    runner = stack.enter_context(asyncio.Runner(loop_factory=uvloop.new_event_loop))
    data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix, dir="/tmp")))
    source = servers.start_https_source(data_dir)
    stack.callback(servers.stop, source.server)
    env = {**source.enclave_env(), **ONE_SOURCE_LIMITS, **(extra_env or {})}
    enclave, api, api_key = start_platform(stack, runner, database_url, data_dir, env)
    return SourcePlatform(runner, data_dir, source, enclave, api, api_key)


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    with contextlib.ExitStack() as stack:
        started = start_source_platform(stack, args.database_url, "nslbo-")
        runner, api, api_key = started.runner, started.api, started.api_key
        url, pki = started.source.url, started.source.pki
        body = {"url": url, "filter": FILTER}
        check = httpx.post(
            f"http://{HOST}:{api.port}{PATH}", json=body, headers={"X-API-Key": api_key}, timeout=10
        )
        if check.status_code != 201 or check.json()["code"] != "Success":
            raise HarnessError(f"the oracle request failed: {check.status_code} {check.text}")
        rows: list[Row] = []
        for concurrency in (1, args.load_concurrency):
            console.print(f"api at concurrency {concurrency} ...")
            window = runner.run(
                measure(
                    "api",
                    1,
                    api.port,
                    api.process.pid,
                    post_request(api.port, PATH, api_key, body),
                    concurrency=concurrency,
                    warmup=args.warmup,
                    seconds=args.duration,
                )
            )
            errors = window.requests - window.statuses.get("201", 0) + window.dropped
            rows.append(row_of("api", concurrency, window.latencies, errors, window.seconds))
        console.print("bare and fetcher ...")
        rows += runner.run(bare_rows(url, pki, args, (1, args.load_concurrency)))
    return report(console, rows, args)


def rows_table(title: str, rows: list[Row]) -> Table:
    """One line per row: target, concurrency, requests, req/s, p50/p99 ms, errors (in red when any)."""
    table = Table(title=title)
    for column in ("target", "concurrency", "requests", "req/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="left" if column == "target" else "right")
    for r in rows:
        table.add_row(
            r.target,
            str(r.concurrency),
            f"{r.requests:,}",
            f"{r.per_second:,.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            f"[red]{r.errors}[/red]" if r.errors else "0",
        )
    return table


def report(console: Console, rows: list[Row], args: argparse.Namespace) -> dict[str, Any]:
    database = "PostgreSQL" if args.database_url else "SQLite"
    console.print(
        rows_table(
            f"Oracle: REST API vs SafeFetcher vs bare httpx GET, one local HTTPS URL ({database})", rows
        )
    )
    by = {(r.target, r.concurrency): r for r in rows}
    overhead = by[("api", 1)].p50_ms - by[("bare", 1)].p50_ms
    fetcher_overhead = by[("fetcher", 1)].p50_ms - by[("bare", 1)].p50_ms
    aim_met = overhead < AIM_OVERHEAD_MS
    seed_met = by[("api", 1)].p99_ms < SEED_TARGET_MS
    console.print(
        f"Overhead over a bare GET at p50: API {overhead:.2f} ms (the fetcher alone {fetcher_overhead:.2f} "
        f"ms); aim < {AIM_OVERHEAD_MS:.0f} ms: {'MET' if aim_met else 'NOT MET'}"
    )
    console.print(f"Seed target (a fetch < 2 s, p99 through the API): {'MET' if seed_met else 'NOT MET'}")
    return {
        "info": {
            "database": database,
            "duration_per_case": args.duration,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "results": [asdict(r) for r in rows],
        "overhead_p50_ms": overhead,
        "fetcher_overhead_p50_ms": fetcher_overhead,
        "overhead_aim_met": aim_met,
        "seed_target_met": seed_met,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = load_parser(__doc__, duration=DEFAULT_DURATION, warmup=DEFAULT_WARMUP, concurrency=1)
    add_load_concurrency_option(parser, DEFAULT_LOAD_CONCURRENCY)
    return parse_load_args(parser, argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when it ran (whatever the numbers), 1 when the harness failed."""
    return run_benchmark(run, parse_args(argv), min_width=MIN_TABLE_WIDTH)


if __name__ == "__main__":
    sys.exit(main())

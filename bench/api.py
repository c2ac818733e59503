"""Benchmark: our authenticated, rate-limited, audited ``GET /v1/account`` vs a bare FastAPI hello-world.

Both apps run as real uvicorn subprocesses, served the same way (``bench.servers``: one worker unless
``--workers``, uvicorn's default loop and HTTP parser, log level ``warning``, no access log, 127.0.0.1).
The NSL app gets a fresh data dir (SQLite by default; ``--database-url`` for PostgreSQL, ``--redis-url``
for the Redis rate limiter) and rate limits so high that the limiter runs on every request but
never rejects. The load (``bench.loadgen``) is keep-alive HTTP/1.1, one request in flight per
connection, from a raw asyncio protocol on uvloop that is much cheaper per request than the server.

Each target is measured for ``--duration`` seconds in total, split into ``--rounds`` windows that
alternate between the targets, each after a warm-up. The report is a table plus ratios; the
issue's target is "ours reaches at least 50% of the bare throughput". Exit status is 0 whether
the target is met or not (this is a report, not a test), 1 when the harness itself fails.

Usage: ``python bench/api.py [--duration 10] [--concurrency 16] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import re
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import uvloop
from rich.console import Console
from rich.table import Table
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

if __package__ in (None, ""):  # run as ``python bench/api.py``: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import servers
from bench.cli import HarnessError, add_profile_option, load_parser, parse_load_args, run_benchmark
from bench.loadgen import HOST, Window, measure, percentile
from bench.profile import profile_load
from bench.servers import Server
from neo_service_layer.config import Settings
from neo_service_layer.db.migrate import upgrade
from neo_service_layer.db.models import AuditHead
from neo_service_layer.db.session import Database
from neo_service_layer.services.accounts.service import bootstrap

DEFAULT_DURATION = 10.0
DEFAULT_WARMUP = 1.0
DEFAULT_ROUNDS = 2
DEFAULT_CONCURRENCY = 16
# Issue 13, aim 1 (it replaced the earlier 50 %: FastAPI alone, the floor, leaves about 50 % for our shape).
DEFAULT_TARGET_RATIO = 0.25
MAX_ROUNDS = 20
MAX_WORKERS = 16
# Rate limits high enough that no request waits; the limiter still takes a token per request.
UNLIMITED_RATE = "1000000000"
BENCH_DATABASE = re.compile(r"^nsl_bench[a-z0-9_]*$")
CLIENT_CPU_WARNING = 0.9
OTHER_CPU_WARNING = 0.25
MIN_TABLE_WIDTH = 130

BARE = "bare"
FLOOR = "floor"
OURS = "ours"
TARGETS = (BARE, FLOOR, OURS)
PATHS = {BARE: "/", FLOOR: "/v1/account", OURS: "/v1/account"}
FACTORIES = {
    BARE: "bench.bare_app:create_app",
    FLOOR: "bench.floor_app:create_app",
    OURS: "bench.nsl_app:create_app",
}
# Liveness, not /readyz: readiness includes the enclave, which GET /v1/account does not use and the
# bench does not start. The provisioning requests then prove the database works.
READY_PATHS = {BARE: "/", FLOOR: "/docs", OURS: "/healthz"}


# --- results -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Summary:
    """All windows of one target, merged. CPU figures are in cores (1.0 = one core busy)."""

    target: str
    endpoint: str
    seconds: float
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    server_cpu: float | None
    server_cpu_us_per_request: float | None
    client_cpu: float
    other_cpu: float | None
    rounds: list[dict[str, Any]]


def _weighted(windows: list[Window], values: list[float | None]) -> float | None:
    """The time-weighted mean of per-window rates, or None if any window lacks one."""
    seconds = sum(w.seconds for w in windows)
    if not seconds or any(v is None for v in values):
        return None
    return sum(w.seconds * v for w, v in zip(windows, values, strict=True) if v is not None) / seconds


def summarize(target: str, endpoint: str, windows: list[Window]) -> Summary:
    seconds = sum(w.seconds for w in windows)
    requests = sum(w.requests for w in windows)
    ordered = sorted(latency for w in windows for latency in w.latencies)
    server_cpu = _weighted(windows, [w.server_cpu for w in windows])
    return Summary(
        target=target,
        endpoint=endpoint,
        seconds=seconds,
        requests=requests,
        errors=sum(w.errors for w in windows),
        rps=requests / seconds if seconds else 0.0,
        p50_ms=percentile(ordered, 0.50) * 1000,
        p90_ms=percentile(ordered, 0.90) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000,
        max_ms=(ordered[-1] if ordered else math.nan) * 1000,
        server_cpu=server_cpu,
        server_cpu_us_per_request=(
            server_cpu * seconds / requests * 1e6 if server_cpu is not None and requests else None
        ),
        client_cpu=_weighted(windows, [w.client_cpu for w in windows]) or 0.0,
        other_cpu=_weighted(windows, [w.other_cpu for w in windows]),
        rounds=[{k: v for k, v in asdict(w).items() if k != "latencies"} | {"rps": w.rps} for w in windows],
    )


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def report(console: Console, summaries: dict[str, Summary], info: dict[str, Any]) -> dict[str, Any]:
    """Print the table, notes and verdict; return the JSON-ready result."""
    table = Table(title=f"NSL API benchmark ({info['description']})")
    columns = ("target", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "requests", "errors")
    for column in (*columns, "server CPU", "server µs/req", "client CPU", "other CPU"):
        table.add_column(column, justify="left" if column == "target" else "right")
    bare, floor, ours = summaries[BARE], summaries[FLOOR], summaries[OURS]
    for s in summaries.values():
        table.add_row(
            s.target,
            f"{s.rps:,.0f}",
            f"{s.p50_ms:.2f}",
            f"{s.p90_ms:.2f}",
            f"{s.p99_ms:.2f}",
            f"{s.max_ms:.1f}",
            f"{s.requests:,}",
            f"[red]{s.errors}[/red]" if s.errors else "0",
            _percent(s.server_cpu),
            "n/a" if s.server_cpu_us_per_request is None else f"{s.server_cpu_us_per_request:,.0f}",
            _percent(s.client_cpu),
            _percent(s.other_cpu),
        )
    ratios = {
        "throughput": _ratio(ours.rps, bare.rps),
        "p50_latency": _ratio(ours.p50_ms, bare.p50_ms),
        "p99_latency": _ratio(ours.p99_ms, bare.p99_ms),
        "floor_throughput": _ratio(floor.rps, bare.rps),
        "ours_vs_floor_throughput": _ratio(ours.rps, floor.rps),
    }
    table.add_section()
    for label, a, b in (
        ("ours/bare", ours, bare),
        ("floor/bare", floor, bare),
        ("ours/floor", ours, floor),
    ):
        table.add_row(
            label,
            f"{_ratio(a.rps, b.rps):.1%}",
            f"{_ratio(a.p50_ms, b.p50_ms):.1f}x",
            "",
            f"{_ratio(a.p99_ms, b.p99_ms):.1f}x",
        )
    console.print(table)
    for line in info["notes"]:
        console.print(f"  - {line}")
    met = ratios["throughput"] >= info["target_ratio"]
    verdict = "[green]MET[/green]" if met else "[red]NOT MET[/red]"
    console.print(
        f"Target (ours >= {info['target_ratio']:.0%} of bare throughput): {verdict}: "
        f"ours is {ratios['throughput']:.1%} of bare ({ours.rps:,.0f} vs {bare.rps:,.0f} req/s); "
        f"FastAPI with our dependency shape alone (floor) reaches {ratios['floor_throughput']:.1%}."
    )
    _warn(
        console,
        list(summaries.values()),
        external_services=info["database"] != "SQLite" or info["rate_limiter"] != "in-process",
    )
    return {
        "info": {k: v for k, v in info.items() if k != "description"},
        "results": {name: asdict(s) for name, s in summaries.items()},
        "ratios": ratios,
        "target_met": met,
    }


def _warn(console: Console, summaries: list[Summary], *, external_services: bool) -> None:
    for s in summaries:
        if s.client_cpu >= CLIENT_CPU_WARNING:
            console.print(
                f"[yellow]warning: client CPU {s.client_cpu:.0%} during {s.target}: "
                "the load generator may be the bottleneck.[/yellow]"
            )
        # PostgreSQL and Redis run outside the server process: their CPU counts as "other".
        busy_elsewhere = s.target != OURS or not external_services
        if busy_elsewhere and s.other_cpu is not None and s.other_cpu >= OTHER_CPU_WARNING:
            console.print(
                f"[yellow]warning: other processes used {s.other_cpu:.0%} of a core during {s.target}: "
                "the numbers are skewed; rerun on an idle machine.[/yellow]"
            )
        if s.errors:
            console.print(f"[red]{s.errors} errors on {s.target}: see the statuses in --json.[/red]")


# --- NSL setup ---------------------------------------------------------------------------------


async def reset_postgres(url: str, *, create: bool) -> None:
    """Drop (and recreate) the bench database named in ``url``; refuses any name but ``nsl_bench*``."""
    parsed = make_url(url)
    name = parsed.database or ""
    if not BENCH_DATABASE.match(name):
        raise HarnessError(f"the bench drops and recreates its database: name it nsl_bench*, not {name!r}")
    engine = create_async_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if create:
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()


async def bootstrap_admin(url: str) -> str:
    """Migrate a fresh database and issue the bootstrap admin key; return its plaintext."""
    db = Database(url)
    try:
        await upgrade(db)
        async with db.transaction() as session:
            issued = await bootstrap(session)
    finally:
        await db.dispose()
    if issued is None:
        raise HarnessError("the database was not fresh: bootstrap returned no key")
    return issued.plaintext


async def audit_entries(url: str) -> int:
    """How many audit entries the chain holds (the head's sequence number)."""
    db = Database(url)
    try:
        async with db.session() as session:
            head = (await session.execute(select(AuditHead))).scalar_one()
            return int(head.seq)
    finally:
        await db.dispose()


def provision_tenant(server: Server, admin_key: str) -> str:
    """Create a tenant account and an owner key through the API; check the key works; return it."""
    base = f"http://{HOST}:{server.port}"
    with httpx.Client(base_url=base, timeout=10.0, headers={"X-API-Key": admin_key}) as client:
        created = client.post("/v1/admin/accounts", json={"name": "bench"})
        if created.status_code != 201:
            raise HarnessError(f"creating the account: {created.status_code} {created.text}")
        account_id = created.json()["id"]
        issued = client.post(
            f"/v1/admin/accounts/{account_id}/api-keys", json={"name": "bench", "role": "owner"}
        )
        if issued.status_code != 201:
            raise HarnessError(f"creating the API key: {issued.status_code} {issued.text}")
        secret: str = issued.json()["secret"]
        check = client.get("/v1/account", headers={"X-API-Key": secret})
        if check.status_code != 200 or check.json().get("id") != account_id:
            raise HarnessError(f"GET /v1/account with the new key: {check.status_code} {check.text}")
    return secret


def http_request(port: int, path: str, api_key: str) -> bytes:
    """The exact request bytes; both targets get the same headers (the bare app ignores the key)."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: nsl-bench\r\n"
        f"Accept: application/json\r\nX-API-Key: {api_key}\r\n\r\n"
    ).encode()


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = load_parser(
        __doc__, duration=DEFAULT_DURATION, warmup=DEFAULT_WARMUP, concurrency=DEFAULT_CONCURRENCY
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=DEFAULT_ROUNDS,
        help="alternating windows per target (default %(default)s)",
    )
    parser.add_argument(
        "--redis-url", default=None, help="use the Redis rate limiter, e.g. redis://127.0.0.1:6379"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes of every target (uvicorn --workers, as nsl api --workers); more than 1 "
        "needs --redis-url (default %(default)s)",
    )
    parser.add_argument(
        "--target-ratio",
        type=float,
        default=DEFAULT_TARGET_RATIO,
        help="throughput ratio ours/bare to report as met (default %(default)s)",
    )
    add_profile_option(parser)
    args = parse_load_args(parser, argv)
    if not 1 <= args.rounds <= MAX_ROUNDS:
        parser.error(f"--rounds must be within 1..{MAX_ROUNDS}")
    if not 1 <= args.workers <= MAX_WORKERS:
        parser.error(f"--workers must be within 1..{MAX_WORKERS}")
    if args.workers > 1 and not args.redis_url:
        parser.error("--workers above 1 needs --redis-url (NSL_API_WORKERS > 1 needs NSL_REDIS_URL)")
    return args


def nsl_env(data_dir: Path, args: argparse.Namespace) -> dict[str, str]:
    env = {
        "NSL_DATA_DIR": str(data_dir),
        "NSL_LOG_LEVEL": servers.SERVER_LOG_LEVEL,
        "NSL_RATE_LIMIT_KEY_PER_SECOND": UNLIMITED_RATE,
        "NSL_RATE_LIMIT_KEY_BURST": UNLIMITED_RATE,
        "NSL_RATE_LIMIT_ACCOUNT_PER_SECOND": UNLIMITED_RATE,
        "NSL_RATE_LIMIT_ACCOUNT_BURST": UNLIMITED_RATE,
    }
    if args.database_url:
        env["NSL_DATABASE_URL"] = args.database_url
    if args.redis_url:
        env["NSL_REDIS_URL"] = args.redis_url
    return env


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    """Start both servers, provision a key, measure, stop everything; return the report."""
    with contextlib.ExitStack() as stack:
        runner = stack.enter_context(asyncio.Runner(loop_factory=uvloop.new_event_loop))
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nsl-bench-")))
        if args.database_url:
            runner.run(reset_postgres(args.database_url, create=True))
            stack.callback(lambda: runner.run(reset_postgres(args.database_url, create=False)))
        database_url = Settings(data_dir=data_dir, database_url=args.database_url).effective_database_url
        admin_key = runner.run(bootstrap_admin(database_url))

        envs = {
            BARE: servers.server_env({}),
            FLOOR: servers.server_env({}),
            OURS: servers.server_env(nsl_env(data_dir, args)),
        }
        started: dict[str, Server] = {}
        for name in TARGETS:
            started[name] = servers.start(
                name, FACTORIES[name], envs[name], data_dir, workers=args.workers, nsl_app=name == OURS
            )
            stack.callback(servers.stop, started[name])
        for name, server in started.items():
            servers.wait_ready(server, READY_PATHS[name])
        api_key = provision_tenant(started[OURS], admin_key)
        audit_before = runner.run(audit_entries(database_url))

        windows: dict[str, list[Window]] = {name: [] for name in TARGETS}
        for round_ in range(1, args.rounds + 1):
            for name in TARGETS if round_ % 2 else tuple(reversed(TARGETS)):
                server = started[name]
                console.print(f"round {round_}/{args.rounds}: {name} GET {PATHS[name]} ...", end=" ")
                window = runner.run(
                    measure(
                        name,
                        round_,
                        server.port,
                        server.process.pid,
                        http_request(server.port, PATHS[name], api_key),
                        concurrency=args.concurrency,
                        warmup=args.warmup,
                        seconds=args.duration / args.rounds,
                    )
                )
                console.print(f"{window.rps:,.0f} req/s, {window.errors} errors")
                windows[name].append(window)
        profile = None
        if args.profile:
            ours = started[OURS]
            profile = profile_load(
                console,
                runner,
                label=f"ours GET {PATHS[OURS]}",
                pid=ours.process.pid,
                seconds=args.profile,
                output=data_dir / "ours.spy",
                target=ours,
                request=http_request(ours.port, PATHS[OURS], api_key),
                concurrency=args.concurrency,
            )
        servers.stop(started[OURS])
        audited = runner.run(audit_entries(database_url)) - audit_before

    measured = sum(w.requests for w in windows[OURS])
    result = report(
        console,
        {
            BARE: summarize(BARE, "GET / (hello world)", windows[BARE]),
            FLOOR: summarize(FLOOR, "GET /v1/account (FastAPI dependency shape only)", windows[FLOOR]),
            OURS: summarize(OURS, "GET /v1/account (API key, rate limits, audit)", windows[OURS]),
        },
        _info(args, audited, measured),
    )
    return result if profile is None else result | {"profile": profile}


def _info(args: argparse.Namespace, audited: int, measured: int) -> dict[str, Any]:
    database = "PostgreSQL" if args.database_url else "SQLite"
    limiter = "Redis" if args.redis_url else "in-process"
    return {
        "description": f"{database}, {limiter} rate limiter, {_workers(args.workers)}, "
        f"{args.concurrency} connections",
        "workers": args.workers,
        "database": database,
        "rate_limiter": limiter,
        "concurrency": args.concurrency,
        "duration_per_target": args.duration,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "target_ratio": args.target_ratio,
        "python": platform.python_version(),
        "uvicorn": uvicorn.__version__,
        "cpus": os.cpu_count(),
        "audit_entries_written": audited,
        "notes": [
            'bare = GET / returning {"hello": "world"}; ours = GET /v1/account with X-API-Key '
            "(auth, rate limit per key and per account, tenant-scoped session, audit entry); floor = "
            "GET /v1/account with the same FastAPI dependency shape as ours and no work "
            "(bench/floor_app.py): the framework's own ceiling for a route of this shape.",
            f"All three: uvicorn {uvicorn.__version__}, {_workers(args.workers)}, default loop/http (uvloop, "
            "httptools), "
            f"log level {servers.SERVER_LOG_LEVEL}, no access log, {HOST}; keep-alive HTTP/1.1, "
            "one request in flight per connection, the same request headers.",
            f"Rate limits raised to {UNLIMITED_RATE}/s (burst {UNLIMITED_RATE}) per key and per "
            f"account: the {limiter} limiter runs on every request but never rejects.",
            f"Audit entries written while measuring: {audited:,} for {measured:,} measured requests "
            "to ours (warm-ups are audited too).",
            "CPU columns: share of one core over the measured windows; server µs/req = server CPU "
            "time per response; other = every other process on the machine (PostgreSQL/Redis too).",
        ],
    }


def _workers(count: int) -> str:
    return "1 worker" if count == 1 else f"{count} worker processes (a socket each, as nsl api --workers)"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 when it ran (whatever the numbers), 1 when the harness failed."""
    return run_benchmark(run, parse_args(argv), min_width=MIN_TABLE_WIDTH)


if __name__ == "__main__":
    sys.exit(main())

"""Two processes' audit entries, each through its own writer or through one writer over the relay.

The audit side of ``nsl api --workers 2`` without HTTP: two processes append entries with
``--in-flight`` concurrent tasks each for ``--duration`` seconds. *own*: each process runs its own
``AuditWriter`` (the two take the chain head's lock in turn; the database chains their batches), as
``nsl api --workers 2`` runs on PostgreSQL; *relay*: each process is an ``AuditRelayClient`` of one
writer process (``AuditRelayServer``), as ``nsl api --workers 2`` runs on SQLite.
Reported per run: entries/s, entries per batch, CPU per entry (every process's ``process_time``).
The modes alternate ``--pairs`` times; PostgreSQL only (a bench database, dropped and recreated).

Usage: ``python bench/audit_relay.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/nsl_bench_a``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path

import uvloop

if __package__ in (None, ""):  # run as ``python bench/audit_relay.py``: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api import reset_postgres
from neo_service_layer.db.migrate import upgrade
from neo_service_layer.db.models import Outcome
from neo_service_layer.db.session import Database
from neo_service_layer.services.audit.chain import AuditEvent
from neo_service_layer.services.audit.relay import AuditRelayClient
from neo_service_layer.services.audit.relay_server import AuditRelayServer
from neo_service_layer.services.audit.writer import AuditSink, AuditWriter

PROCESSES = 2
EVENT = AuditEvent("api_key:key_1", "account.get", "/v1/account", Outcome.SUCCESS, 200, "", "acc_1")
# (entries appended, CPU seconds, batches committed: 0 for a relay client)
Result = tuple[int, float, int]


async def _load(sink: AuditSink, name: str, in_flight: int, seconds: float) -> tuple[int, float]:
    numbers = itertools.count()
    until = time.monotonic() + seconds
    done = 0

    async def one() -> None:
        nonlocal done
        while time.monotonic() < until:
            await sink.append(replace(EVENT, request_id=f"req_{name}_{next(numbers)}"))
            done += 1

    started = time.process_time()
    await asyncio.gather(*(one() for _ in range(in_flight)))
    return done, time.process_time() - started


def _own(url: str, name: str, in_flight: int, seconds: float, results: Queue[Result]) -> None:
    async def main() -> Result:
        db = Database(url)
        writer = AuditWriter(db)
        await writer.start()
        try:
            done, cpu = await _load(writer, name, in_flight, seconds)
        finally:
            await writer.stop()
            await db.dispose()
        return done, cpu, writer.batches

    results.put(asyncio.run(main(), loop_factory=uvloop.new_event_loop))


def _client(path: str, name: str, in_flight: int, seconds: float, results: Queue[Result]) -> None:
    async def main() -> Result:
        client = AuditRelayClient(Path(path))
        try:
            done, cpu = await _load(client, name, in_flight, seconds)
        finally:
            await client.stop()
        return done, cpu, 0

    results.put(asyncio.run(main(), loop_factory=uvloop.new_event_loop))


def _writer(url: str, path: str, ready: Event, stop: Event, results: Queue[Result]) -> None:
    async def main() -> Result:
        db = Database(url)
        writer = AuditWriter(db)
        relay = AuditRelayServer(writer, Path(path))
        await writer.start()
        await relay.start()
        ready.set()
        started = time.process_time()
        await asyncio.to_thread(stop.wait)  # the loaders are done
        cpu = time.process_time() - started
        await relay.stop()
        await writer.stop()
        await db.dispose()
        return 0, cpu, writer.batches

    results.put(asyncio.run(main(), loop_factory=uvloop.new_event_loop))


def run_mode(mode: str, url: str, in_flight: int, seconds: float) -> str:
    """One run of ``mode`` (own or relay); its report line."""
    context = multiprocessing.get_context("spawn")
    results: Queue[Result] = context.Queue()
    directory = tempfile.mkdtemp(prefix="nsl-bench-relay-")
    path = str(Path(directory) / "audit.sock")
    ready, stop = context.Event(), context.Event()
    writer = None
    try:
        if mode == "relay":
            writer = context.Process(target=_writer, args=(url, path, ready, stop, results))
            writer.start()
            ready.wait()
        target, first = (_own, url) if mode == "own" else (_client, path)
        loaders = [
            context.Process(target=target, args=(first, str(n), in_flight, seconds, results))
            for n in range(PROCESSES)
        ]
        for process in loaders:
            process.start()
        loads = [results.get() for _ in loaders]
        for process in loaders:
            process.join()
        if writer is not None:
            stop.set()
            loads.append(results.get())
            writer.join()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    entries = sum(done for done, _, _ in loads)
    batches = sum(batches for _, _, batches in loads)
    cpu = sum(seconds_used for _, seconds_used, _ in loads)
    line = (
        f"{mode:5}  {entries / seconds:8,.0f} entries/s  {entries / max(batches, 1):5.1f} per batch  "
        f"{cpu / max(entries, 1) * 1e6:5.0f} µs CPU per entry"
    )
    if writer is not None:  # the writer process's own share
        line += f" (writer {loads[-1][1] / max(entries, 1) * 1e6:.0f})"
    return line


async def _fresh(url: str) -> None:
    await reset_postgres(url, create=True)
    db = Database(url)
    try:
        await upgrade(db)
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> None:
    """Alternate own and relay runs on a fresh bench database; print one line per run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", required=True, help="postgresql+asyncpg://…/nsl_bench*")
    parser.add_argument("--in-flight", type=int, default=8, help="concurrent appends per process")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--pairs", type=int, default=2, help="own/relay pairs, alternating")
    args = parser.parse_args(argv)
    asyncio.run(_fresh(args.database_url))
    try:
        for _ in range(args.pairs):
            for mode in ("own", "relay"):
                print(run_mode(mode, args.database_url, args.in_flight, args.duration), flush=True)
    finally:
        asyncio.run(reset_postgres(args.database_url, create=False))


if __name__ == "__main__":
    main()

"""Group commit of audit entries: many requests' entries chained and committed in one transaction.

Every append locks the chain head (a row lock on PostgreSQL, the single writer on SQLite), so
appends are serialized and each costs a head read, an INSERT, a head UPDATE and a commit. Requests
whose audit entry has no change of theirs to commit with (reads, and failures whose changes were
rolled back) hand their entry to the process's :class:`AuditWriter` instead: one task takes what
has queued up, appends it all with :func:`chain.append_batch` (one head lock, one multi-row INSERT,
one head UPDATE) and commits, then wakes every request of the batch. A request still answers only
after its entry is committed, and fails if the batch fails: fail-closed, as before, but N entries
share one transaction. The batches form naturally: while one commits, the next requests queue, so
an idle server commits each entry at once and a busy one amortizes (the classic group commit of
database logs; PostgreSQL's own WAL does the same).

With several API processes the natural batches shrink: each process's writer waits for the others'
head locks, so the same entries take more, smaller transactions (measured on PostgreSQL at two
workers: 3.6 entries a batch instead of 8, 2.3x the commits). A busy writer — its last batch held more
than one entry — therefore lingers up to ``linger_seconds`` before it takes the next batch, to let it
fill (PostgreSQL's ``commit_delay`` is the same idea), and no longer than it takes as many entries as
its last batch held to queue; not at all when they are queued already: then it would only idle (the
requests answered by one batch come back together, and on one process they reach the writer in one
event-loop turn: the linger was a millisecond of every ~8 ms cycle at 16 connections,
docs/performance.md). An idle one (last batch of one) never waits, so a lone request's latency is
unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.util import greenlet_spawn

from neo_service_layer.config import Settings
from neo_service_layer.db.session import Database
from neo_service_layer.errors import ServiceUnavailable
from neo_service_layer.logging import get_logger
from neo_service_layer.services.audit.chain import AuditEvent, append_rows
from neo_service_layer.services.audit.errors import AuditWriteFailed
from neo_service_layer.services.audit.pg_batch import PostgresBatchAppender

DEFAULT_MAX_BATCH = 64
DEFAULT_LINGER_SECONDS = 0.001
# Requests waiting beyond this block in ``append`` (back-pressure) instead of growing memory.
DEFAULT_MAX_QUEUE = 4096

log = get_logger("nsl.audit.writer")


class AuditSink(Protocol):
    """Where a request's audit entry goes when it has no transaction of its own to join."""

    async def append(self, event: AuditEvent) -> None: ...


_Item = tuple[AuditEvent, "asyncio.Future[None]"]


class AuditWriter:
    """One per process: appends queued audit events in batches; ``append`` returns once committed."""

    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_queue: int = DEFAULT_MAX_QUEUE,
        linger_seconds: float = DEFAULT_LINGER_SECONDS,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        """``on_batch``: called with each committed batch's number of entries (metrics)."""
        if max_batch < 1 or max_queue < 1:
            raise ValueError("max_batch and max_queue must be at least 1")
        if linger_seconds < 0:
            raise ValueError("linger_seconds must not be negative")
        self._linger = linger_seconds
        self._on_batch = on_batch
        self._db = db
        # PostgreSQL: one statement per batch (pg_batch); SQLite: the locked append, whose statements
        # run on the loop's thread and cost little (db.sqlite_cursor).
        self._pg = None if db.is_sqlite else PostgresBatchAppender(db.engine)
        self._max_batch = max_batch
        # Committed so far by this writer (tests, its stop log, benchmarks): entries / batches is the mean
        # batch size. /metrics counts through ``on_batch`` instead, summed over the API's workers.
        self.batches = 0
        self.entries = 0
        self.largest_batch = 0
        self._last_batch = 0  # entries in the last committed batch: more than one = busy
        # Guarded by the event loop; None = the stop marker, queued behind everything else.
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue(max_queue)
        # While the writer lingers: how many queued entries end the wait early, and the signal.
        self._fill_target = 0
        self._filled = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._accepting = False

    @property
    def linger_seconds(self) -> float:
        """How long a busy writer waits for its batch to fill (0: never)."""
        return self._linger

    async def start(self) -> None:
        """Start the writer task (a second call does nothing)."""
        if self._task is None:
            self._accepting = True
            self._task = asyncio.create_task(self._run(), name="nsl-audit-writer")

    async def stop(self) -> None:
        """Refuse new entries, commit every queued one, then end the task (safe to call twice)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._accepting = False
        if not task.done():  # a finished task drains nothing, and a full queue would block forever
            await self._queue.put(None)
        await task

    async def append(self, event: AuditEvent) -> None:
        """Return once ``event`` is committed; raise :class:`AuditWriteFailed` if it was not."""
        done = self._new_entry()
        await self._queue.put((event, done))
        self._queued()
        # A cancelled request (client gone) stops waiting, but its entry stays queued and is written:
        # an entry may outlive its response, never the other way round.
        await asyncio.shield(done)

    def submit(self, event: AuditEvent) -> asyncio.Future[None]:
        """Queue ``event`` without waiting: the future is done once it is committed, or fails with
        :class:`AuditWriteFailed`. Raises :class:`asyncio.QueueFull` when ``max_queue`` entries wait
        already (``append`` waits for room instead). For callers that answer from a callback (the
        relay's writer side): no task per entry."""
        done = self._new_entry()
        self._queue.put_nowait((event, done))
        self._queued()
        return done

    def _new_entry(self) -> asyncio.Future[None]:
        if not self._accepting or self._task is None or self._task.done():
            raise ServiceUnavailable("the audit writer is not running (the server is shutting down)")
        return asyncio.get_running_loop().create_future()

    def _queued(self) -> None:
        if self._fill_target and self._queue.qsize() >= self._fill_target:
            self._filled.set()

    async def _run(self) -> None:
        batch: list[_Item] = []
        try:
            while True:
                item = await self._queue.get()
                stopping = item is None
                if item is not None:
                    batch.append(item)
                if self._linger and not stopping and 1 + self._queue.qsize() < self._last_batch:
                    await self._wait_to_fill(self._last_batch - 1)  # busy and short (module docstring)
                while len(batch) < self._max_batch and not stopping:
                    try:
                        item = self._queue.get_nowait()
                    except asyncio.QueueEmpty:
                        break
                    stopping = item is None
                    if item is not None:
                        batch.append(item)
                if batch:
                    await self._commit(batch)
                    batch = []
                if stopping:
                    return
        finally:
            # Only reached with waiters left if the task is cancelled mid-batch or has a bug:
            # nobody may wait forever, nor believe an unconfirmed entry was written.
            self._accepting = False
            while not self._queue.empty():
                left = self._queue.get_nowait()
                if left is not None:
                    batch.append(left)
            self._fail_all(batch, "the audit writer stopped", None)
            if self._pg is not None:
                await self._pg.close()

    async def _wait_to_fill(self, queued: int) -> None:
        """Wait until ``queued`` entries are queued, at most ``linger_seconds``. Not a plain sleep: with
        several API workers' entries coming through one writer, the batch is often whole well before
        the linger ends, and every request of it would idle out the rest."""
        self._filled.clear()
        self._fill_target = queued
        try:
            await asyncio.wait_for(self._filled.wait(), self._linger)
        except TimeoutError:
            pass  # the batch goes as it is
        finally:
            self._fill_target = 0

    async def _commit(self, batch: list[_Item]) -> None:
        try:
            events = [event for event, _ in batch]
            if self._pg is not None:
                await self._pg.append(events)
            else:
                await greenlet_spawn(_write, self._db.engine.sync_engine, events)
        except Exception as exc:
            # Every request of the batch fails: none of their entries is known to be committed.
            log.error("audit_batch_failed", entries=len(batch), error_type=type(exc).__name__)
            self._fail_all(batch, "the audit entry could not be written", exc)
            return
        self.batches += 1
        self.entries += len(batch)
        self._last_batch = len(batch)
        self.largest_batch = max(self.largest_batch, len(batch))
        if self._on_batch is not None:
            self._on_batch(len(batch))
        for _, done in batch:
            if not done.done():
                done.set_result(None)

    @staticmethod
    def _fail_all(batch: list[_Item], detail: str, cause: BaseException | None) -> None:
        for _, done in batch:
            if not done.done():
                # One exception per waiter: a shared one would collect every waiter's traceback.
                error = AuditWriteFailed(detail)
                error.__cause__ = cause
                done.set_exception(error)
                # Marks it retrieved: a waiter that was cancelled never awaits it, and asyncio
                # would log "exception was never retrieved". Awaiting it still raises.
                done.exception()


def configured_writer(
    db: Database, settings: Settings, on_batch: Callable[[int], None] | None = None
) -> AuditWriter:
    """The process's writer for ``db`` as configured (the API's own, or the one writer process of N
    workers on SQLite); ``on_batch`` as for :class:`AuditWriter`."""
    # Lingering pays where commits are dear and shared (PostgreSQL: a WAL fsync, the head's row
    # lock across processes); on SQLite it only idled one process (measured: -7 % at 16 connections).
    linger = 0.0 if db.is_sqlite else settings.audit.batch_linger_seconds
    return AuditWriter(db, linger_seconds=linger, on_batch=on_batch)


def _write(engine: Engine, events: list[AuditEvent]) -> None:
    """One batch in one transaction on a Core connection, all within one greenlet_spawn: no session
    (the batch needs no ORM) and no greenlet per statement (each async call is one)."""
    with engine.begin() as connection:
        append_rows(connection, events)

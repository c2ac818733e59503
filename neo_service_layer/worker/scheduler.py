"""The scheduler: enqueues periodic jobs, in one process of the fleet at a time.

Every worker process runs a ``Scheduler``; only the one holding the ``SCHEDULER_LEASE`` leader
lease acts. The scheduler never does the work itself: it enqueues a job per task and period, and
any worker runs it. Each job's idempotency key names the task and the period
(``periodic:<task>:<period index>``), so a period is enqueued once even if two schedulers briefly
both believe they lead (a stalled leader and its successor), and a new leader that takes over
mid-period does not enqueue that period again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from neo_service_layer.config import Settings
from neo_service_layer.config.groups import DEFAULT_SCHEDULER_LOCK_SECONDS
from neo_service_layer.constants import SCHEDULER_LEASE
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.session import Database
from neo_service_layer.logging import get_logger
from neo_service_layer.worker.context import new_worker_id
from neo_service_layer.worker.leader import LeaderLease
from neo_service_layer.worker.queue import Clock, ensure_enqueued

log = get_logger("worker.scheduler")


@dataclass(frozen=True, slots=True)
class PeriodicTask:
    """Enqueue a ``kind`` job with ``payload`` once per ``interval_seconds``.

    Periods are aligned to the Unix epoch (period ``n`` starts at ``n * interval``), so every
    scheduler instance agrees on them without coordination.
    """

    name: str
    interval_seconds: float
    kind: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.interval_seconds <= 0:
            raise ValueError(f"interval of {self.name!r} must be positive")

    def period(self, now: datetime) -> int:
        """The index of the period containing ``now``."""
        return int(now.timestamp() // self.interval_seconds)

    def idempotency_key(self, period: int) -> str:
        return f"periodic:{self.name}:{period}"


class Scheduler:
    """Holds (or waits for) the scheduler leadership and enqueues due periodic tasks while leading."""

    def __init__(
        self,
        db: Database,
        tasks: Iterable[PeriodicTask],
        *,
        owner: str | None = None,
        lock_seconds: float = DEFAULT_SCHEDULER_LOCK_SECONDS,
        tick_seconds: float | None = None,
        settings: Settings | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._db = db
        self._tasks = {task.name: task for task in tasks}
        self.owner = owner or new_worker_id("scheduler")
        self._lease = LeaderLease(db, SCHEDULER_LEASE, self.owner, ttl_seconds=lock_seconds, clock=clock)
        # Renew at a third of the lease: two renewals may fail (a slow database) before it lapses.
        shortest = min((t.interval_seconds for t in self._tasks.values()), default=lock_seconds)
        self._tick = tick_seconds if tick_seconds is not None else min(lock_seconds / 3, shortest)
        self._settings = settings
        self._clock = clock
        self._leading = False
        # The last period enqueued per task by this instance: saves a database round trip per tick.
        self._done: dict[str, int] = {}
        self._stop_requested = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, db: Database, settings: Settings, tasks: Iterable[PeriodicTask]) -> Scheduler:
        """A scheduler with the lease length of ``settings``."""
        return cls(db, tasks, lock_seconds=settings.jobs.scheduler_lock_seconds, settings=settings)

    @property
    def is_leader(self) -> bool:
        """Whether the last tick held the leadership."""
        return self._leading

    async def start(self) -> None:
        """Start ticking in the background. Calling it again does nothing."""
        if self._task is None:
            self._stop_requested.clear()
            self._task = asyncio.create_task(self._run(), name=f"scheduler {self.owner}")

    async def stop(self) -> None:
        """Stop ticking and give up the leadership at once. Safe to call twice."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop_requested.set()
        await task
        if self._leading:
            self._leading = False
            try:
                await self._lease.release()
            except Exception:
                # The lease then lapses on its own after lock_seconds.
                log.exception("scheduler lease release failed", owner=self.owner)

    async def tick(self) -> bool:
        """Acquire or renew the leadership, and if held enqueue what is due. True while leading."""
        leading = await self._lease.try_acquire()
        if leading != self._leading:
            log.info("scheduler leadership " + ("acquired" if leading else "lost"), owner=self.owner)
            self._leading = leading
        if leading:
            await self.enqueue_due()
        return leading

    async def enqueue_due(self, now: datetime | None = None) -> list[str]:
        """Enqueue the current period of every task not yet enqueued; the ids of jobs created.

        Does not check leadership (``tick`` does); idempotency keys make a second call harmless.
        """
        now = now or self._clock()
        created: list[str] = []
        for task in self._tasks.values():
            period = task.period(now)
            if self._done.get(task.name) == period:
                continue
            async with self._db.transaction() as session:
                job, is_new = await ensure_enqueued(
                    session,
                    task.kind,
                    dict(task.payload),
                    run_at=now,
                    idempotency_key=task.idempotency_key(period),
                    max_attempts=task.max_attempts,
                    settings=self._settings,
                )
            self._done[task.name] = period
            if is_new:
                created.append(job.id)
                log.info("periodic job enqueued", task=task.name, period=period, job_id=job.id)
        return created

    async def _run(self) -> None:
        while not self._stop_requested.is_set():
            try:
                await self.tick()
            except Exception:
                # The database is unreachable or failing: act as a follower until it is back; if we
                # led, the lease lapses and whoever reaches the database first takes over.
                log.exception("scheduler tick failed", owner=self.owner)
                self._leading = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_requested.wait(), self._tick)

"""The worker: claims jobs from the queue and runs their handlers, a few at a time.

Three kinds of task run inside a started ``Worker``:

* the poller claims as many jobs as there are free slots (``concurrency``), then waits for a slot
  to free up or ``poll_seconds`` to pass;
* one supervisor per claimed job runs its handler and settles the job: complete, fail (retried
  with backoff, or dead), or release;
* the heartbeat extends the lease of every running job each third of a lease, and cancels a
  handler whose job was taken over by another worker (its result would be refused anyway).

Shutdown (``stop``) stops claiming, lets running handlers finish within a grace period, then
cancels the rest and releases their jobs — queued again at once, the attempt not counted — so
another worker picks them up without waiting for the lease to expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from neo_service_layer.config import Settings
from neo_service_layer.db.session import Database
from neo_service_layer.errors import NSLError
from neo_service_layer.logging import get_logger
from neo_service_layer.worker.backoff import backoff_ceiling
from neo_service_layer.worker.context import Handler, JobContext, PermanentJobError, new_worker_id
from neo_service_layer.worker.queue import ClaimedJob, DeadHook, JobQueue

DEFAULT_SHUTDOWN_GRACE_SECONDS = 15.0
# Longest wait between claims while the database keeps failing.
MAX_CLAIM_RETRY_SECONDS = 30.0

log = get_logger("worker")

HandlerResult = dict[str, Any] | None


#: ``last_error_code`` of a failure that is not one of ours: a bug or a library's exception.
UNEXPECTED_ERROR = "unexpected_error"
#: ``last_error_code`` of a handler whose result cannot be stored (not JSON).
UNSERIALIZABLE_RESULT = "unserializable_result"


def error_code(error: BaseException) -> str:
    """The stable code a failed attempt is recorded with: the job error's or the NSLError's own."""
    if isinstance(error, PermanentJobError):
        return error.code
    if isinstance(error, NSLError):
        return error.code
    return UNEXPECTED_ERROR


@dataclass(slots=True, eq=False)
class _Running:
    """A job this worker is running: its handler task, and whether its lease was taken over."""

    job: ClaimedJob
    handler: asyncio.Task[HandlerResult]
    lease_lost: bool = False


class Worker:
    """Runs queued jobs with the registered handlers (kind → handler)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        handlers: Mapping[str, Handler] | None = None,
        *,
        kinds: Collection[str] | None = None,
        worker_id: str | None = None,
        queue: JobQueue | None = None,
        concurrency: int | None = None,
        poll_seconds: float | None = None,
        shutdown_grace_seconds: float = DEFAULT_SHUTDOWN_GRACE_SECONDS,
        on_dead: Mapping[str, DeadHook] | None = None,
    ) -> None:
        """``on_dead``: the kinds' dead hooks (``worker.queue``), for the queue built here when
        ``queue`` is None. ``kinds`` restricts what is claimed. None claims every kind, and a job
        whose kind has no handler is dead-lettered — right when all workers run the same code,
        wrong during a rolling upgrade that adds a kind: pass ``kinds`` there, or upgrade workers
        before enqueuers.
        """
        self.db = db
        self.settings = settings
        self.worker_id = worker_id or new_worker_id()
        self._handlers: dict[str, Handler] = dict(handlers or {})
        self._kinds = frozenset(kinds) if kinds is not None else None
        self._queue = queue or JobQueue.from_settings(db, settings, on_dead=on_dead)
        self._concurrency = concurrency if concurrency is not None else settings.jobs.worker_concurrency
        self._poll_seconds = poll_seconds if poll_seconds is not None else settings.jobs.worker_poll_seconds
        if self._concurrency < 1 or self._poll_seconds <= 0:
            raise ValueError("concurrency must be >= 1 and poll_seconds > 0")
        self._grace_seconds = shutdown_grace_seconds
        # Jobs being run, by id; only touched from this event loop, so no lock is needed.
        self._running: dict[str, _Running] = {}
        self._supervisors: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()  # a slot freed up, or stop was requested
        self._stopping = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._shutdown: asyncio.Task[None] | None = None
        self._log = log.bind(worker_id=self.worker_id)

    @property
    def running_job_ids(self) -> set[str]:
        """Ids of the jobs whose handlers are running now."""
        return set(self._running)

    async def start(self) -> None:
        """Start claiming and running jobs. Calling it again does nothing; a stopped worker stays stopped."""
        if self._poller is not None:
            return
        self._poller = asyncio.create_task(self._poll(), name=f"poll {self.worker_id}")
        self._heartbeat = asyncio.create_task(self._beat(), name=f"heartbeat {self.worker_id}")
        self._log.info("worker started", concurrency=self._concurrency, kinds=self._kinds_for_log())

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Stop claiming; wait up to the grace period for running jobs, then cancel and release them.

        Safe to call twice, and concurrently: every caller returns once the worker has stopped.
        """
        if self._poller is None:
            return
        if self._shutdown is None:
            grace = self._grace_seconds if grace_seconds is None else grace_seconds
            self._shutdown = asyncio.create_task(self._stop(grace), name=f"stop {self.worker_id}")
        # Shielded: a caller cancelled while waiting must not abort the release of jobs half-way.
        await asyncio.shield(self._shutdown)

    async def _stop(self, grace_seconds: float) -> None:
        self._stopping.set()
        self._wake.set()
        assert self._poller is not None
        assert self._heartbeat is not None
        try:
            await self._poller
        except Exception:
            # A bug in the poller must not keep the claimed jobs from being finished or released.
            self._log.exception("job poller crashed")
        handlers = {running.handler for running in self._running.values()}
        if handlers:
            self._log.info("waiting for running jobs", jobs=len(handlers), grace_seconds=grace_seconds)
            _done, stuck = await asyncio.wait(handlers, timeout=grace_seconds)
            for task in stuck:
                task.cancel()
        # Supervisors settle (release, for the cancelled) each job before they end.
        await asyncio.gather(*self._supervisors, return_exceptions=True)
        self._heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._heartbeat
        self._log.info("worker stopped")

    async def _poll(self) -> None:
        failures = 0  # consecutive failed claims
        while not self._stopping.is_set():
            # Cleared before claiming, so a slot freed during the claim still wakes the wait below.
            self._wake.clear()
            free = self._concurrency - len(self._running)
            if free > 0:
                try:
                    jobs = await self._queue.claim(
                        self.worker_id, self._kinds, free, exclude=set(self._running)
                    )
                    failures = 0
                except Exception:
                    # The database is away. Jobs are safe in it; poll again, backing off so that a
                    # fleet of workers does not hammer a database that is trying to come back.
                    failures += 1
                    self._log.exception("claiming jobs failed", consecutive_failures=failures)
                    jobs = []
                for job in jobs:
                    self._launch(job)
            wait = self._poll_seconds
            if failures:
                cap = max(self._poll_seconds, MAX_CLAIM_RETRY_SECONDS)
                wait = backoff_ceiling(failures, base=self._poll_seconds, cap=cap)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    def _launch(self, job: ClaimedJob) -> None:
        previous = self._running.get(job.id)
        if previous is not None:
            # Unreachable while ``claim`` honours ``exclude``. Were it to happen, the older attempt
            # is fenced off already (a newer attempt holds the lease): stop it, don't lose track of it.
            previous.lease_lost = True
            previous.handler.cancel()
        handler = asyncio.create_task(self._call(job), name=f"job {job.id}")
        running = _Running(job, handler)
        self._running[job.id] = running
        supervisor = asyncio.create_task(self._supervise(running), name=f"supervise {job.id}")
        self._supervisors.add(supervisor)
        supervisor.add_done_callback(self._supervisors.discard)

    async def _call(self, job: ClaimedJob) -> HandlerResult:
        handler = self._handlers.get(job.kind)
        if handler is None:
            raise PermanentJobError("no_handler", f"no handler registered for job kind {job.kind!r}")
        job_log = self._log.bind(job_id=job.id, kind=job.kind, attempt=job.attempts)
        return await handler(JobContext(job, self.db, self.settings, self.worker_id, job_log))

    async def _supervise(self, running: _Running) -> None:
        job = running.job
        job_log = self._log.bind(job_id=job.id, kind=job.kind, attempt=job.attempts)
        try:
            await asyncio.wait({running.handler})
            await self._settle(running, job_log)
        except Exception:
            # Could not record the outcome (database away): the lease expires and the job runs again.
            job_log.exception("settling job failed")
        finally:
            # Only our own entry: a later attempt of the same job may have replaced it (``_launch``).
            if self._running.get(job.id) is running:
                del self._running[job.id]
            self._wake.set()

    async def _settle(self, running: _Running, job_log: structlog.stdlib.BoundLogger) -> None:
        job, task = running.job, running.handler
        if task.cancelled():
            if running.lease_lost:
                job_log.warning("job abandoned: its lease was taken over")
            elif await self._queue.release(job):
                job_log.info("job released")
            return
        error = task.exception()
        if error is not None:
            retryable = not isinstance(error, PermanentJobError)
            settled = await self._queue.fail(
                job, f"{type(error).__name__}: {error}", code=error_code(error), retryable=retryable
            )
            dead = not retryable or job.is_last_attempt
            job_log.warning(
                "job failed" + (", dead" if dead else ", will retry"),
                error=repr(error),
                settled=settled,
                exc_info=error if not isinstance(error, PermanentJobError) else None,
            )
            return
        result = task.result()
        problem = _result_problem(result)
        if problem is not None:
            await self._queue.fail(job, problem, code=UNSERIALIZABLE_RESULT, retryable=False)
            job_log.error("job result rejected", problem=problem)
            return
        if await self._queue.complete(job, result):
            job_log.info("job succeeded")
        else:
            job_log.warning("job finished after its lease was taken over; result discarded")

    async def _beat(self) -> None:
        # A third of the lease: two heartbeats may fail (a slow database) before the lease lapses.
        interval = self._queue.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            for running in list(self._running.values()):
                if running.handler.done():
                    continue
                try:
                    held = await self._queue.extend_lease(running.job)
                except Exception:
                    self._log.exception("lease heartbeat failed", job_id=running.job.id)
                    continue
                if not held and not running.handler.done():
                    running.lease_lost = True
                    running.handler.cancel()
                    self._log.warning("lease lost; cancelling job", job_id=running.job.id)

    def _kinds_for_log(self) -> list[str]:
        return sorted(self._kinds) if self._kinds is not None else sorted(self._handlers)


def _result_problem(result: object) -> str | None:
    """Why a handler's return value cannot be stored as the job result, or None if it can."""
    if result is None:
        return None
    if not isinstance(result, dict):
        return f"handler returned {type(result).__name__}, not a dict or None"
    try:
        json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as e:
        return f"handler result is not JSON-serializable: {e}"
    return None

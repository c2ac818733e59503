"""The job queue: rows of the ``jobs`` table, claimed by workers under a lease.

Life of a job::

    enqueue ──> queued ──claim──> running ──complete──> succeeded
                  ^                  │
                  └──fail (retry)────┤──fail (last attempt, or not retryable)──> dead
                  └──release─────────┘
                  running, lease expired ──claim by another worker──> running (next attempt)

A job is written in the caller's transaction (``enqueue``), so a request and the work it asks for
commit together or not at all: nothing lives only in memory. Delivery is at-least-once: a worker
that dies mid-job loses its lease and another worker runs the job again, so handlers must be
idempotent (fulfilments are keyed by request id).

Every state change after a claim is fenced on ``(lease_owner, attempts)``: a worker whose lease
expired and was taken over cannot complete, fail, release or extend the job any more, even if the
job later came back to the same worker for a new attempt.

A job kind may have a dead hook (``on_dead``): called in the transaction that makes one of its jobs
dead — its last attempt failed, it failed permanently, or its worker died on the last attempt — so the
record the job was working on (a function run) ends with the job, never left waiting for it.

Times are the workers' wall clocks (UTC). They must be NTP-synchronized; leases are seconds to
minutes long, so ordinary skew only shortens or lengthens a takeover slightly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from neo_service_layer.config import Settings
from neo_service_layer.config.groups import (
    DEFAULT_JOB_BACKOFF_BASE_SECONDS,
    DEFAULT_JOB_BACKOFF_MAX_SECONDS,
    DEFAULT_JOB_LEASE_SECONDS,
    DEFAULT_JOB_MAX_ATTEMPTS,
)
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import Job, JobStatus
from neo_service_layer.db.session import Database
from neo_service_layer.ids import IdPrefix, new_id
from neo_service_layer.logging import get_logger
from neo_service_layer.worker.backoff import SYSTEM_UNIFORM, Uniform, backoff_delay

#: ``last_error_code`` of a job whose worker stopped renewing its lease (crashed, or cut off).
LEASE_EXPIRED = "lease_expired"
# ``last_error`` is Text, but an error message can embed a whole HTTP body or a stack of causes.
MAX_ERROR_CHARS = 4000
_TRUNCATED = "…[truncated]"

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class DeadJob:
    """A job that has just gone dead, as its kind's dead hook sees it."""

    id: str
    kind: str
    payload: dict[str, Any]
    account_id: str | None
    attempts: int
    #: ``last_error_code``: why the last attempt failed (``lease_expired``, a handler's code, …).
    code: str


#: Called with the transaction that makes a job of its kind dead (module docstring).
DeadHook = Callable[[AsyncSession, DeadJob], Awaitable[None]]

log = get_logger("worker.queue")


def bounded_error(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters, marked when cut."""
    if len(text) <= limit:
        return text
    return text[: limit - len(_TRUNCATED)] + _TRUNCATED


async def ensure_enqueued(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    run_at: datetime | None = None,
    idempotency_key: str | None = None,
    account_id: str | None = None,
    max_attempts: int | None = None,
    settings: Settings | None = None,
) -> tuple[Job, bool]:
    """Like :func:`enqueue`, also telling whether the job was created (True) or already existed (False)."""
    if max_attempts is None:
        max_attempts = settings.jobs.max_attempts if settings is not None else DEFAULT_JOB_MAX_ATTEMPTS
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
    now = utcnow()
    job = Job(
        id=new_id(IdPrefix.JOB),
        kind=kind,
        payload=payload,
        status=JobStatus.QUEUED,
        run_at=run_at or now,
        attempts=0,
        max_attempts=max_attempts,
        idempotency_key=idempotency_key,
        account_id=account_id,
        created_at=now,
        updated_at=now,
    )
    if idempotency_key is None:
        session.add(job)
        await session.flush()
        return job, True

    existing = await _job_by_key(session, idempotency_key)
    if existing is not None:
        return existing, False
    # Two transactions can both miss the row above. The unique constraint decides: the loser's
    # insert fails (on PostgreSQL after waiting for the winner to commit), its SAVEPOINT is rolled
    # back — not the caller's transaction — and the winner's row is read back (a new statement
    # sees it under READ COMMITTED, the isolation level every session here runs at).
    try:
        async with session.begin_nested():
            session.add(job)
    except IntegrityError:
        existing = await _job_by_key(session, idempotency_key)
        if existing is None:
            raise  # Some other constraint failed, or the winner rolled back: not ours to hide.
        return existing, False
    return job, True


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    run_at: datetime | None = None,
    idempotency_key: str | None = None,
    account_id: str | None = None,
    max_attempts: int | None = None,
    settings: Settings | None = None,
) -> Job:
    """Add a job in the caller's transaction; it becomes visible to workers when that commits.

    With an ``idempotency_key``, enqueueing again (even concurrently, from another process)
    returns the job already stored under that key instead of adding a second one, whatever its
    status. Keys are global across accounts: callers namespace them (``"<service>:<account>:…"``).
    ``max_attempts`` defaults to ``settings.jobs.max_attempts`` (or the platform default).
    """
    job, _created = await ensure_enqueued(
        session,
        kind,
        payload,
        run_at=run_at,
        idempotency_key=idempotency_key,
        account_id=account_id,
        max_attempts=max_attempts,
        settings=settings,
    )
    return job


async def _job_by_key(session: AsyncSession, key: str) -> Job | None:
    return (await session.execute(select(Job).where(Job.idempotency_key == key))).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job this worker holds a lease on; ``(lease_owner, attempts)`` fences every later change."""

    id: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    account_id: str | None
    idempotency_key: str | None
    lease_owner: str
    lease_expires_at: datetime

    @property
    def is_last_attempt(self) -> bool:
        return self.attempts >= self.max_attempts


class JobQueue:
    """Claims and settles jobs. One per worker process; cheap, holds no connection."""

    def __init__(
        self,
        db: Database,
        *,
        lease_seconds: float = DEFAULT_JOB_LEASE_SECONDS,
        backoff_base_seconds: float = DEFAULT_JOB_BACKOFF_BASE_SECONDS,
        backoff_max_seconds: float = DEFAULT_JOB_BACKOFF_MAX_SECONDS,
        clock: Clock = utcnow,
        uniform: Uniform = SYSTEM_UNIFORM,
        on_dead: Mapping[str, DeadHook] | None = None,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self._db = db
        self.lease = timedelta(seconds=lease_seconds)
        self._backoff_base = backoff_base_seconds
        self._backoff_max = backoff_max_seconds
        self._clock = clock
        self._uniform = uniform
        self._on_dead: dict[str, DeadHook] = dict(on_dead or {})

    @classmethod
    def from_settings(
        cls,
        db: Database,
        settings: Settings,
        *,
        clock: Clock = utcnow,
        on_dead: Mapping[str, DeadHook] | None = None,
    ) -> JobQueue:
        """A queue with the lease and backoff of ``settings`` and the kinds' dead hooks ``on_dead``."""
        return cls(
            db,
            lease_seconds=settings.jobs.lease_seconds,
            backoff_base_seconds=settings.jobs.backoff_base_seconds,
            backoff_max_seconds=settings.jobs.backoff_max_seconds,
            clock=clock,
            on_dead=on_dead,
        )

    async def claim(
        self,
        worker_id: str,
        kinds: Collection[str] | None = None,
        limit: int = 1,
        *,
        exclude: Collection[str] = (),
    ) -> list[ClaimedJob]:
        """Lease up to ``limit`` due jobs (of ``kinds``, or any kind when None) to ``worker_id``.

        Due means queued with ``run_at`` in the past, or running under an expired lease (its
        worker crashed or hung). A job whose expired lease was on its last attempt is dead-lettered
        here instead of being run again: a job that kills its worker must not kill every worker.
        ``exclude`` names jobs the caller is running itself: if one of their leases lapsed (late
        heartbeats), the caller must not take the job over from itself and run it twice.
        """
        if limit < 1 or (kinds is not None and not kinds):
            return []
        now = self._clock()
        due: ColumnElement[bool] = or_(
            and_(Job.status == JobStatus.QUEUED, Job.run_at <= now),
            and_(Job.status == JobStatus.RUNNING, Job.lease_expires_at < now),
        )
        query = select(Job).where(due).order_by(Job.run_at, Job.id).limit(limit)
        if kinds is not None:
            query = query.where(Job.kind.in_(sorted(kinds)))
        if exclude:
            query = query.where(Job.id.not_in(sorted(exclude)))
        if not self._db.is_sqlite:
            # PostgreSQL: rows another claimer has locked are skipped, not waited for, and a row
            # claimed and committed meanwhile is re-checked against WHERE and dropped (READ
            # COMMITTED re-evaluation), so concurrent claimers get disjoint jobs.
            query = query.with_for_update(skip_locked=True)
        # SQLite has no row locks; every transaction of ``Database`` starts with BEGIN IMMEDIATE
        # (db/session.py), which takes the database's single write lock before the SELECT. Claimers
        # are therefore serialized: the next one reads only after this one has committed.
        claimed: list[ClaimedJob] = []
        expires = now + self.lease
        async with self._db.transaction() as session:
            for job in (await session.execute(query)).scalars():
                if job.status == JobStatus.RUNNING and job.attempts >= job.max_attempts:
                    job.status = JobStatus.DEAD
                    job.last_error_code = LEASE_EXPIRED
                    job.last_error = bounded_error(
                        f"lease of {job.lease_owner} expired during the last attempt "
                        f"({job.attempts}/{job.max_attempts}); worker presumed crashed"
                    )
                    job.lease_owner = None
                    job.lease_expires_at = None
                    job.finished_at = now
                    await self._died(session, _dead(job, LEASE_EXPIRED))
                    continue
                if job.status == JobStatus.RUNNING:
                    job.last_error_code = LEASE_EXPIRED
                    job.last_error = bounded_error(
                        f"lease of {job.lease_owner} expired during attempt {job.attempts}"
                    )
                job.status = JobStatus.RUNNING
                job.lease_owner = worker_id
                job.lease_expires_at = expires
                job.attempts += 1
                claimed.append(
                    ClaimedJob(
                        id=job.id,
                        kind=job.kind,
                        payload=job.payload,
                        attempts=job.attempts,
                        max_attempts=job.max_attempts,
                        account_id=job.account_id,
                        idempotency_key=job.idempotency_key,
                        lease_owner=worker_id,
                        lease_expires_at=expires,
                    )
                )
        return claimed

    async def complete(self, job: ClaimedJob, result: dict[str, Any] | None = None) -> bool:
        """Mark the job succeeded with ``result``. False if this worker no longer holds it."""
        now = self._clock()
        return await self._settle(
            job,
            status=JobStatus.SUCCEEDED,
            result=result,
            lease_owner=None,
            lease_expires_at=None,
            finished_at=now,
            updated_at=now,
        )

    async def fail(self, job: ClaimedJob, error: str, *, code: str, retryable: bool = True) -> bool:
        """Record a failed attempt: back to queued after a jittered backoff, or dead.

        Dead (the dead letter, kept with its ``last_error`` for an operator) when ``retryable`` is
        False or this was attempt ``max_attempts``. False if this worker no longer holds the job.
        """
        now = self._clock()
        message = bounded_error(error)
        if not retryable or job.is_last_attempt:
            dead = DeadJob(job.id, job.kind, job.payload, job.account_id, job.attempts, code)
            return await self._settle(
                job,
                dead=dead,
                status=JobStatus.DEAD,
                last_error=message,
                last_error_code=code,
                lease_owner=None,
                lease_expires_at=None,
                finished_at=now,
                updated_at=now,
            )
        delay = self.retry_delay(job.attempts)
        return await self._settle(
            job,
            status=JobStatus.QUEUED,
            run_at=now + timedelta(seconds=delay),
            last_error=message,
            last_error_code=code,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )

    async def release(self, job: ClaimedJob) -> bool:
        """Give the job back untouched (shutdown): queued again at once, the attempt not counted."""
        return await self._settle(
            job,
            status=JobStatus.QUEUED,
            attempts=job.attempts - 1,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=self._clock(),
        )

    async def extend_lease(self, job: ClaimedJob) -> bool:
        """Push the lease one lease period into the future (heartbeat). False if the job was lost."""
        now = self._clock()
        return await self._settle(job, lease_expires_at=now + self.lease, updated_at=now)

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (full jitter, see ``backoff``)."""
        return backoff_delay(attempt, base=self._backoff_base, cap=self._backoff_max, uniform=self._uniform)

    async def _died(self, session: AsyncSession, dead: DeadJob) -> None:
        """Run ``dead``'s kind's hook in ``session`` (the job's death), inside a SAVEPOINT: a hook
        that fails is logged and undone alone — the job still dies, and in ``claim`` the other
        jobs are still claimed (a failing hook must not stop the queue)."""
        hook = self._on_dead.get(dead.kind)
        if hook is None:
            return
        try:
            async with session.begin_nested():
                await hook(session, dead)
        except Exception:
            log.exception("dead hook failed", job_id=dead.id, kind=dead.kind)

    async def _settle(self, job: ClaimedJob, *, dead: DeadJob | None = None, **values: Any) -> bool:
        # The fence: still running, still ours, and still the attempt we claimed. A lease that
        # expired but was not taken over yet still counts as ours — nobody else ran the job.
        statement = (
            update(Job)
            .where(
                Job.id == job.id,
                Job.status == JobStatus.RUNNING,
                Job.lease_owner == job.lease_owner,
                Job.attempts == job.attempts,
            )
            .values(**values)
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        )
        async with self._db.transaction() as session:
            changed = (await session.execute(statement)).scalars().all()
            if dead is not None and len(changed) == 1:
                await self._died(session, dead)
        return len(changed) == 1


def _dead(job: Job, code: str) -> DeadJob:
    return DeadJob(job.id, job.kind, dict(job.payload), job.account_id, job.attempts, code)

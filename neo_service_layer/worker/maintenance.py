"""Built-in housekeeping: the ``maintenance.purge`` job and the periodic task that schedules it.

It deletes idempotency records past their ``expires_at`` (the API ignores them already) and
succeeded jobs finished more than the retention ago. Dead jobs are kept: they wait for an operator.
Deletes go in batches, each its own short transaction, so that on SQLite — one writer at a time —
API requests interleave with a large purge instead of waiting for all of it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import IdempotencyRecord, Job, JobStatus
from neo_service_layer.db.session import Database
from neo_service_layer.worker.context import Handler, JobContext, PermanentJobError
from neo_service_layer.worker.scheduler import PeriodicTask

PURGE_KIND = "maintenance.purge"
DEFAULT_PURGE_INTERVAL_SECONDS = 3600.0
DEFAULT_JOB_RETENTION_DAYS = 7.0
PURGE_BATCH_SIZE = 1000


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    """Rows deleted by one purge."""

    idempotency_records: int
    jobs: int


async def purge_expired(
    db: Database, *, now: datetime, job_retention: timedelta, batch_size: int = PURGE_BATCH_SIZE
) -> PurgeCounts:
    """Delete idempotency records expired at ``now`` and jobs succeeded before ``now - job_retention``."""
    records = 0
    while True:
        expired = select(IdempotencyRecord.id).where(IdempotencyRecord.expires_at < now).limit(batch_size)
        statement = (
            delete(IdempotencyRecord)
            .where(IdempotencyRecord.id.in_(expired.scalar_subquery()))
            .returning(IdempotencyRecord.id)
            .execution_options(synchronize_session=False)
        )
        async with db.transaction() as session:
            deleted = len((await session.execute(statement)).scalars().all())
        records += deleted
        if deleted < batch_size:
            break

    cutoff = now - job_retention
    jobs = 0
    while True:
        finished = (
            select(Job.id)
            .where(Job.status == JobStatus.SUCCEEDED, Job.finished_at < cutoff)
            .limit(batch_size)
        )
        job_statement = (
            delete(Job)
            .where(Job.id.in_(finished.scalar_subquery()))
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        )
        async with db.transaction() as session:
            deleted = len((await session.execute(job_statement)).scalars().all())
        jobs += deleted
        if deleted < batch_size:
            break
    return PurgeCounts(idempotency_records=records, jobs=jobs)


async def purge_handler(ctx: JobContext) -> dict[str, Any]:
    """Handler of ``maintenance.purge``; payload ``{"job_retention_days": <number >= 0>}`` (optional)."""
    days = ctx.job.payload.get("job_retention_days", DEFAULT_JOB_RETENTION_DAYS)
    if isinstance(days, bool) or not isinstance(days, int | float) or days < 0:
        raise PermanentJobError(
            "invalid_job_payload", f"job_retention_days must be a number >= 0, got {days!r}"
        )
    counts = await purge_expired(ctx.db, now=utcnow(), job_retention=timedelta(days=days))
    ctx.log.info("purged", **asdict(counts))
    return asdict(counts)


def purge_task(
    *,
    interval_seconds: float = DEFAULT_PURGE_INTERVAL_SECONDS,
    job_retention_days: float = DEFAULT_JOB_RETENTION_DAYS,
) -> PeriodicTask:
    """The periodic task that enqueues ``maintenance.purge``."""
    return PeriodicTask(
        name="purge",
        interval_seconds=interval_seconds,
        kind=PURGE_KIND,
        payload={"job_retention_days": job_retention_days},
    )


def builtin_handlers() -> dict[str, Handler]:
    """Handlers every worker registers."""
    return {PURGE_KIND: purge_handler}


def builtin_tasks() -> list[PeriodicTask]:
    """Periodic tasks every scheduler runs."""
    return [purge_task()]

"""The built-in purge: expired idempotency records and old succeeded jobs go, everything else stays."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from neo_service_layer.config import Settings
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import Account, IdempotencyRecord, Job, JobStatus
from neo_service_layer.db.session import Database
from neo_service_layer.worker.context import JobContext, PermanentJobError
from neo_service_layer.worker.maintenance import PURGE_KIND, purge_expired, purge_handler
from neo_service_layer.worker.queue import enqueue
from tests.worker.helpers import job_context


async def seed(db: Database) -> None:
    now = utcnow()
    async with db.transaction() as session:
        session.add(Account(id="acc_1", name="acme"))
        await session.flush()
        for n, expires_in in enumerate([-3600, -60, -1, -1, -1, 60, 3600]):
            session.add(
                IdempotencyRecord(
                    account_id="acc_1",
                    key=f"{'expired' if expires_in < 0 else 'live'}-{n}",
                    fingerprint="f" * 64,
                    status_code=201,
                    response_body="{}",
                    expires_at=now + timedelta(seconds=expires_in),
                )
            )
        for name, status, finished_days_ago in [
            ("old-succeeded-1", JobStatus.SUCCEEDED, 30),
            ("old-succeeded-2", JobStatus.SUCCEEDED, 8),
            ("recent-succeeded", JobStatus.SUCCEEDED, 6),
            ("old-dead", JobStatus.DEAD, 30),
            ("old-queued", JobStatus.QUEUED, None),
        ]:
            job = await enqueue(
                session, "demo.kind", {}, idempotency_key=name, run_at=now - timedelta(days=30)
            )
            job.status = status
            if finished_days_ago is not None:
                job.finished_at = now - timedelta(days=finished_days_ago)


async def remaining(db: Database) -> tuple[set[str], set[str | None]]:
    async with db.transaction() as session:
        keys = set((await session.execute(select(IdempotencyRecord.key))).scalars())
        jobs = set((await session.execute(select(Job.idempotency_key))).scalars())
    return keys, jobs


@pytest.mark.parametrize("batch_size", [1, 2, 1000], ids=["batch-1", "batch-2", "batch-1000"])
async def test_purge_deletes_only_expired_records_and_old_succeeded_jobs(
    db: Database, batch_size: int
) -> None:
    await seed(db)
    counts = await purge_expired(db, now=utcnow(), job_retention=timedelta(days=7), batch_size=batch_size)
    assert (counts.idempotency_records, counts.jobs) == (5, 2)
    keys, jobs = await remaining(db)
    assert keys == {"live-5", "live-6"}
    assert jobs == {"recent-succeeded", "old-dead", "old-queued"}
    again = await purge_expired(db, now=utcnow(), job_retention=timedelta(days=7), batch_size=batch_size)
    assert (again.idempotency_records, again.jobs) == (0, 0)


def context(db: Database, settings: Settings, payload: dict[str, Any]) -> JobContext:
    return job_context(db, settings, PURGE_KIND, payload)


async def test_purge_handler_uses_the_retention_of_its_payload(db: Database, settings: Settings) -> None:
    await seed(db)
    result = await purge_handler(context(db, settings, {"job_retention_days": 7.5}))
    assert result == {"idempotency_records": 5, "jobs": 2}
    result = await purge_handler(context(db, settings, {"job_retention_days": 1}))
    assert result == {"idempotency_records": 0, "jobs": 1}
    _keys, jobs = await remaining(db)
    assert jobs == {"old-dead", "old-queued"}


@pytest.mark.parametrize("days", [-1, "7", True, None], ids=["negative", "string", "boolean", "null"])
async def test_purge_handler_rejects_a_bad_retention(db: Database, settings: Settings, days: object) -> None:
    with pytest.raises(PermanentJobError, match="job_retention_days"):
        await purge_handler(context(db, settings, {"job_retention_days": days}))

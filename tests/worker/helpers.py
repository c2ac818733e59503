"""Helpers shared by the worker tests (and the subprocess script in ``crash_worker``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select

from neo_service_layer.config import Settings
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import Job
from neo_service_layer.db.session import Database
from neo_service_layer.worker.context import JobContext
from neo_service_layer.worker.queue import ClaimedJob, enqueue


class FakeClock:
    """A settable clock for the queue and leases: expiry is tested without sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def job_context(db: Database, settings: Settings, kind: str, payload: dict[str, Any]) -> JobContext:
    """What a handler gets for a claimed ``kind`` job, without the queue: for calling handlers directly."""
    job = ClaimedJob(
        id="job_test",
        kind=kind,
        payload=payload,
        attempts=1,
        max_attempts=3,
        account_id=None,
        idempotency_key=None,
        lease_owner="w1",
        lease_expires_at=utcnow() + timedelta(seconds=60),
    )
    return JobContext(job, db, settings, "w1", structlog.stdlib.get_logger("test"))


async def add_job(
    db: Database, kind: str = "test.kind", payload: dict[str, Any] | None = None, **kw: Any
) -> str:
    """Enqueue one job in its own transaction; its id."""
    async with db.transaction() as session:
        job = await enqueue(session, kind, payload or {}, **kw)
    return job.id


async def get_job(db: Database, job_id: str) -> Job:
    async with db.transaction() as session:
        job = await session.get(Job, job_id)
    assert job is not None
    return job


async def count_jobs(db: Database, *where: Any) -> int:
    async with db.transaction() as session:
        count = (await session.execute(select(func.count()).select_from(Job).where(*where))).scalar_one()
    return int(count)


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], *, within: float = 15.0, interval: float = 0.02
) -> None:
    """Poll ``predicate`` (the database: no event to wait on) until it holds; fail after ``within`` s."""
    async with asyncio.timeout(within):
        while True:
            if await predicate():
                return
            await asyncio.sleep(interval)


async def job_status_is(db: Database, job_id: str, status: str) -> bool:
    return (await get_job(db, job_id)).status == status

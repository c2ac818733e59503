"""The scheduler: periodic jobs enqueued once per period, by the one scheduler holding the lease."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from neo_service_layer.constants import SCHEDULER_LEASE
from neo_service_layer.db.models import Job, Lease
from neo_service_layer.db.session import Database
from neo_service_layer.worker.maintenance import PURGE_KIND, builtin_tasks, purge_task
from neo_service_layer.worker.scheduler import PeriodicTask, Scheduler
from tests.worker.helpers import FakeClock, count_jobs, wait_until


async def periodic_keys(db: Database) -> list[str | None]:
    async with db.transaction() as session:
        return list((await session.execute(select(Job.idempotency_key).order_by(Job.id))).scalars())


@pytest.mark.parametrize(
    ("interval", "instant", "period"),
    [
        (60.0, datetime(1970, 1, 1, 0, 0, 59, tzinfo=UTC), 0),
        (60.0, datetime(1970, 1, 1, 0, 1, 0, tzinfo=UTC), 1),
        (3600.0, datetime(2026, 1, 1, 12, 30, tzinfo=UTC), 490_908),
        (0.5, datetime(1970, 1, 1, 0, 0, 1, 250_000, tzinfo=UTC), 2),
    ],
    ids=["end-of-first-period", "start-of-second-period", "hourly", "sub-second"],
)
def test_periods_are_aligned_to_the_epoch(interval: float, instant: datetime, period: int) -> None:
    task = PeriodicTask("t", interval, "demo.kind")
    assert task.period(instant) == period
    assert task.idempotency_key(period) == f"periodic:t:{period}"


@pytest.mark.parametrize("interval", [0.0, -1.0], ids=["zero", "negative"])
def test_periodic_task_needs_a_positive_interval(interval: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        PeriodicTask("t", interval, "demo.kind")


async def test_two_running_schedulers_enqueue_the_purge_once(db: Database, other_db: Database) -> None:
    first_period = purge_task().period(datetime.now(UTC))
    schedulers = [
        Scheduler(database, builtin_tasks(), lock_seconds=2.0, tick_seconds=0.02)
        for database in (db, other_db)
    ]
    for scheduler in schedulers:
        await scheduler.start()
    try:

        async def purge_enqueued() -> bool:
            return await count_jobs(db, Job.kind == PURGE_KIND) >= 1

        await wait_until(purge_enqueued)
        await asyncio.sleep(0.2)  # ten more ticks of each: the follower must stay a follower
        assert [scheduler.is_leader for scheduler in schedulers].count(True) == 1
        leader = next(scheduler for scheduler in schedulers if scheduler.is_leader)
        async with db.transaction() as session:
            lease = await session.get(Lease, SCHEDULER_LEASE)
        assert lease is not None
        assert lease.owner == leader.owner
    finally:
        for scheduler in schedulers:
            await scheduler.stop()
            await scheduler.stop()  # twice is fine
    # One job per period the test spanned (almost always one period; two across an hour boundary).
    periods = range(first_period, purge_task().period(datetime.now(UTC)) + 1)
    assert await periodic_keys(db) == [f"periodic:purge:{period}" for period in periods]
    async with db.transaction() as session:
        assert await session.get(Lease, SCHEDULER_LEASE) is None, "stop() did not give up the lease"


async def test_split_brain_leaders_still_enqueue_each_period_once(db: Database, other_db: Database) -> None:
    task = PeriodicTask("tick", 60.0, "demo.tick", payload={"x": 1})
    first, second = Scheduler(db, [task]), Scheduler(other_db, [task])
    instant = datetime(2026, 5, 1, 12, 0, 30, tzinfo=UTC)
    results = await asyncio.gather(first.enqueue_due(instant), second.enqueue_due(instant))
    assert sorted(len(created) for created in results) == [0, 1]
    # Same period again: nothing; the next period: one more job.
    assert await first.enqueue_due(instant + timedelta(seconds=29)) == []
    assert len(await second.enqueue_due(instant + timedelta(seconds=30))) == 1
    assert await first.enqueue_due(instant + timedelta(seconds=31)) == []
    period = task.period(instant)
    assert await periodic_keys(db) == [f"periodic:tick:{period}", f"periodic:tick:{period + 1}"]
    async with db.transaction() as session:
        payloads = list((await session.execute(select(Job.payload))).scalars())
    assert payloads == [{"x": 1}, {"x": 1}]


async def test_only_the_leader_enqueues_and_leadership_moves_on_expiry(
    db: Database, other_db: Database, clock: FakeClock
) -> None:
    task = PeriodicTask("tick", 60.0, "demo.tick")
    first = Scheduler(db, [task], owner="first", lock_seconds=30.0, clock=clock)
    second = Scheduler(other_db, [task], owner="second", lock_seconds=30.0, clock=clock)
    assert await first.tick()
    assert not await second.tick()
    assert await count_jobs(db) == 1

    clock.advance(60)  # a new period, and first's lease has lapsed: first stalled
    assert await second.tick()
    assert second.is_leader
    assert not await first.tick(), "the stalled leader kept leading after its lease was taken"
    assert not first.is_leader
    assert await count_jobs(db) == 2


async def test_stop_hands_leadership_over_at_once(db: Database, other_db: Database, clock: FakeClock) -> None:
    first = Scheduler(db, [], owner="first", lock_seconds=3600.0, clock=clock)
    second = Scheduler(other_db, [], owner="second", lock_seconds=3600.0, clock=clock)
    await first.start()
    await wait_until(first.tick)
    assert not await second.tick()
    await first.stop()
    assert await second.tick(), "the successor had to wait for the stopped leader's lease to expire"

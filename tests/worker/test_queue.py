"""The job queue on a real database: enqueue idempotency, claims, retries, dead letters, leases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.config import Settings
from neo_service_layer.db.models import Job, JobStatus
from neo_service_layer.db.session import Database
from neo_service_layer.worker.queue import (
    LEASE_EXPIRED,
    MAX_ERROR_CHARS,
    ClaimedJob,
    DeadJob,
    JobQueue,
    bounded_error,
    enqueue,
    ensure_enqueued,
)
from tests.settings_helpers import settings_with
from tests.worker.helpers import FakeClock, add_job, count_jobs, get_job

LEASE = 10.0


def make_queue(db: Database, clock: FakeClock, **kw: Any) -> JobQueue:
    """A queue whose retry delay is always the full ceiling (a deterministic 'jitter')."""
    options: dict[str, Any] = {
        "lease_seconds": LEASE,
        "backoff_base_seconds": 2.0,
        "backoff_max_seconds": 60.0,
        "clock": clock,
        "uniform": lambda low, high: high,
    }
    options.update(kw)
    return JobQueue(db, **options)


# --- enqueue ------------------------------------------------------------------------------------


async def test_enqueue_creates_a_queued_job(db: Database, settings: Settings) -> None:
    custom = settings_with(settings, jobs={"max_attempts": 5})
    async with db.transaction() as session:
        job = await enqueue(session, "demo.kind", {"x": 1}, account_id=None, settings=custom)
    stored = await get_job(db, job.id)
    assert (stored.kind, stored.payload, stored.status) == ("demo.kind", {"x": 1}, JobStatus.QUEUED)
    assert (stored.attempts, stored.max_attempts) == (0, 5)
    assert stored.lease_owner is None
    assert stored.run_at <= stored.created_at + timedelta(seconds=1)


async def test_enqueue_is_part_of_the_callers_transaction(db: Database) -> None:
    async def failing_request() -> None:
        async with db.transaction() as session:
            await enqueue(session, "demo.kind", {}, idempotency_key="k-rolled-back")
            raise RuntimeError("request failed")

    with pytest.raises(RuntimeError, match="request failed"):
        await failing_request()
    assert await count_jobs(db) == 0


@pytest.mark.parametrize("max_attempts", [0, -3], ids=["zero", "negative"])
async def test_enqueue_rejects_max_attempts_below_one(db: Database, max_attempts: int) -> None:
    async with db.transaction() as session:
        with pytest.raises(ValueError, match="max_attempts"):
            await enqueue(session, "demo.kind", {}, max_attempts=max_attempts)


async def test_enqueue_with_same_key_returns_the_existing_job(db: Database) -> None:
    async with db.transaction() as session:
        first, created_first = await ensure_enqueued(session, "demo.kind", {"n": 1}, idempotency_key="k1")
    async with db.transaction() as session:
        second, created_second = await ensure_enqueued(session, "demo.kind", {"n": 2}, idempotency_key="k1")
    assert (created_first, created_second) == (True, False)
    assert second.id == first.id
    assert second.payload == {"n": 1}
    assert await count_jobs(db) == 1


async def test_concurrent_enqueues_of_one_key_make_one_job(db: Database, other_db: Database) -> None:
    async def one(database: Database, n: int) -> str:
        async with database.transaction() as session:
            job = await enqueue(session, "demo.kind", {"n": n}, idempotency_key="same-key")
        return job.id

    ids = await asyncio.gather(*(one(db if n % 2 else other_db, n) for n in range(12)))
    assert len(set(ids)) == 1
    assert await count_jobs(db) == 1


@pytest.mark.parametrize("winner_commits", [True, False], ids=["winner-commits", "winner-rolls-back"])
async def test_enqueue_race_loser_waits_for_the_winner(
    db: Database, other_db: Database, winner_commits: bool
) -> None:
    # The winner inserts but has not committed when the loser enqueues the same key. On PostgreSQL
    # the loser's insert blocks on the unique index and fails once the winner commits (the loser
    # then reads the winner's row); on SQLite the loser waits for the write lock instead.
    async def loser() -> str:
        async with other_db.transaction() as session:
            job = await enqueue(session, "demo.kind", {"who": "loser"}, idempotency_key="raced")
        return job.id

    session = db.session()
    await session.begin()
    winner = await enqueue(session, "demo.kind", {"who": "winner"}, idempotency_key="raced")
    loser_task = asyncio.create_task(loser())
    await asyncio.sleep(0.3)
    assert not loser_task.done()
    if winner_commits:
        await session.commit()
    else:
        await session.rollback()
    await session.close()
    loser_id = await asyncio.wait_for(loser_task, 30)

    assert (loser_id == winner.id) is winner_commits
    stored = await get_job(db, loser_id)
    assert stored.payload == {"who": "winner" if winner_commits else "loser"}
    assert await count_jobs(db) == 1


# --- claim --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        (None, {"a-due", "b-due"}),
        ({"a"}, {"a-due"}),
        ({"b", "c"}, {"b-due"}),
        ({"c"}, set()),
        (set(), set()),
    ],
    ids=["any-kind", "one-kind", "several-kinds", "no-such-kind", "empty-kinds"],
)
async def test_claim_takes_due_jobs_of_the_given_kinds(
    db: Database, clock: FakeClock, kinds: set[str] | None, expected: set[str]
) -> None:
    later = clock.now + timedelta(minutes=5)
    for name, kind, run_at in [
        ("a-due", "a", clock.now - timedelta(seconds=1)),
        ("a-later", "a", later),
        ("b-due", "b", clock.now),
        ("b-later", "b", later),
    ]:
        await add_job(db, kind, {"name": name}, run_at=run_at)
    claimed = await make_queue(db, clock).claim("w1", kinds, limit=10)
    assert {job.payload["name"] for job in claimed} == expected
    assert all(job.attempts == 1 and job.lease_owner == "w1" for job in claimed)


async def test_claim_respects_run_at_and_limit_in_run_at_order(db: Database, clock: FakeClock) -> None:
    ids = [await add_job(db, run_at=clock.now - timedelta(seconds=10 - n)) for n in range(5)]
    future = await add_job(db, run_at=clock.now + timedelta(seconds=30))
    queue = make_queue(db, clock, lease_seconds=3600)  # the first five stay leased throughout

    first = await queue.claim("w1", limit=3)
    assert [job.id for job in first] == ids[:3]
    rest = await queue.claim("w1", limit=10)
    assert [job.id for job in rest] == ids[3:]
    assert await queue.claim("w1", limit=10) == []

    clock.advance(31)
    assert [job.id for job in await queue.claim("w1", limit=10)] == [future]


async def test_claim_marks_the_row_running_under_a_lease(db: Database, clock: FakeClock) -> None:
    job_id = await add_job(db, run_at=clock.now)
    [claimed] = await make_queue(db, clock).claim("worker-a")
    stored = await get_job(db, job_id)
    assert stored.status == JobStatus.RUNNING
    assert stored.lease_owner == "worker-a"
    assert stored.attempts == 1
    assert stored.lease_expires_at == clock.now + timedelta(seconds=LEASE) == claimed.lease_expires_at


async def test_two_concurrent_claimers_never_claim_the_same_job(db: Database, other_db: Database) -> None:
    async with db.transaction() as session:
        for n in range(120):
            await enqueue(session, "demo.kind", {"n": n})
    queues = {"w-a": JobQueue(db, lease_seconds=60), "w-b": JobQueue(other_db, lease_seconds=60)}

    async def drain(worker_id: str, queue: JobQueue) -> list[ClaimedJob]:
        taken: list[ClaimedJob] = []
        while batch := await queue.claim(worker_id, limit=4):
            taken.extend(batch)
            await asyncio.sleep(0)
        return taken

    results = await asyncio.gather(
        drain("w-a", queues["w-a"]),
        drain("w-b", queues["w-b"]),
        drain("w-a", queues["w-a"]),
        drain("w-b", queues["w-b"]),
    )
    claimed_ids = [job.id for batch in results for job in batch]
    assert len(claimed_ids) == 120
    assert len(set(claimed_ids)) == 120
    async with db.transaction() as session:
        rows = (await session.execute(select(Job))).scalars().all()
    assert {row.attempts for row in rows} == {1}
    owner_by_id = {job.id: job.lease_owner for batch in results for job in batch}
    assert all(row.lease_owner == owner_by_id[row.id] for row in rows)


# --- settle -------------------------------------------------------------------------------------


async def test_complete_stores_the_result(db: Database, clock: FakeClock) -> None:
    job_id = await add_job(db, run_at=clock.now)
    queue = make_queue(db, clock)
    [claimed] = await queue.claim("w1")
    assert await queue.complete(claimed, {"answer": 42})
    stored = await get_job(db, job_id)
    assert (stored.status, stored.result) == (JobStatus.SUCCEEDED, {"answer": 42})
    assert (stored.lease_owner, stored.lease_expires_at) == (None, None)
    assert stored.finished_at == clock.now
    assert not await queue.complete(claimed, {"answer": 43}), "a finished job cannot be completed again"


async def test_fail_requeues_after_exponential_backoff(db: Database, clock: FakeClock) -> None:
    job_id = await add_job(db, max_attempts=5, run_at=clock.now)
    queue = make_queue(db, clock)
    expected_delays = [2.0, 4.0, 8.0]  # base 2 s, doubling; the fixed "jitter" draws the ceiling
    for attempt, delay in enumerate(expected_delays, start=1):
        [claimed] = await queue.claim("w1")
        assert claimed.attempts == attempt
        assert await queue.fail(claimed, f"failure {attempt}", code="test_failure")
        stored = await get_job(db, job_id)
        assert stored.status == JobStatus.QUEUED
        assert stored.run_at == clock.now + timedelta(seconds=delay)
        assert stored.last_error == f"failure {attempt}"
        assert (stored.lease_owner, stored.lease_expires_at) == (None, None)
        clock.advance(delay - 0.001)
        assert await queue.claim("w1") == [], "claimed before its backoff ran out"
        clock.advance(0.001)


async def test_jittered_retry_lands_within_the_backoff_window(db: Database, clock: FakeClock) -> None:
    queue = JobQueue(db, lease_seconds=LEASE, backoff_base_seconds=2.0, backoff_max_seconds=60.0, clock=clock)
    run_ats = []
    for _ in range(8):
        job_id = await add_job(db, run_at=clock.now)
        [claimed] = await queue.claim("w1")
        await queue.fail(claimed, "boom", code="test_failure")
        run_ats.append((await get_job(db, job_id)).run_at)
    assert all(clock.now <= run_at <= clock.now + timedelta(seconds=2.0) for run_at in run_ats)
    assert len(set(run_ats)) > 1, "eight retries at the same instant: no jitter"


async def test_dead_letter_after_max_attempts(db: Database, clock: FakeClock) -> None:
    job_id = await add_job(db, max_attempts=3, run_at=clock.now)
    queue = make_queue(db, clock)
    for attempt in range(1, 4):
        [claimed] = await queue.claim("w1")
        assert claimed.is_last_attempt is (attempt == 3)
        assert await queue.fail(claimed, f"error on attempt {attempt}", code="test_failure")
        clock.advance(3600)
    stored = await get_job(db, job_id)
    assert stored.status == JobStatus.DEAD
    assert (stored.attempts, stored.last_error) == (3, "error on attempt 3")
    assert stored.finished_at is not None
    assert await queue.claim("w1") == []


async def test_non_retryable_failure_goes_dead_at_once(db: Database, clock: FakeClock) -> None:
    job_id = await add_job(db, max_attempts=8, run_at=clock.now)
    queue = make_queue(db, clock)
    [claimed] = await queue.claim("w1")
    assert await queue.fail(claimed, "malformed payload", code="invalid_job_payload", retryable=False)
    stored = await get_job(db, job_id)
    assert (stored.status, stored.attempts, stored.last_error) == (JobStatus.DEAD, 1, "malformed payload")
    assert stored.last_error_code == "invalid_job_payload"
    clock.advance(3600)
    assert await queue.claim("w1") == []


@pytest.mark.parametrize(
    ("length", "stored_length"),
    [
        (10, 10),
        (MAX_ERROR_CHARS, MAX_ERROR_CHARS),
        (MAX_ERROR_CHARS + 1, MAX_ERROR_CHARS),
        (10**6, MAX_ERROR_CHARS),
    ],
    ids=["short", "at-limit", "one-over", "huge"],
)
async def test_stored_error_text_is_bounded(
    db: Database, clock: FakeClock, length: int, stored_length: int
) -> None:
    job_id = await add_job(db, run_at=clock.now)
    queue = make_queue(db, clock)
    [claimed] = await queue.claim("w1")
    await queue.fail(claimed, "x" * length, code="test_failure")
    stored = (await get_job(db, job_id)).last_error
    assert stored is not None
    assert len(stored) == stored_length
    assert stored.endswith("[truncated]") is (length > MAX_ERROR_CHARS)
    assert bounded_error("y" * length) == stored.replace("x", "y")


async def test_release_gives_the_attempt_back(db: Database, clock: FakeClock) -> None:
    job_id = await add_job(db, run_at=clock.now)
    queue = make_queue(db, clock)
    [claimed] = await queue.claim("w1")
    assert await queue.release(claimed)
    stored = await get_job(db, job_id)
    assert (stored.status, stored.attempts, stored.lease_owner) == (JobStatus.QUEUED, 0, None)
    [again] = await queue.claim("w2")
    assert again.attempts == 1
    assert not await queue.release(claimed), "a stale handle released a job it no longer holds"


async def test_extend_lease_keeps_the_job_from_takeover(db: Database, clock: FakeClock) -> None:
    job_id = await add_job(db, run_at=clock.now)
    queue = make_queue(db, clock)
    [claimed] = await queue.claim("w1")
    clock.advance(LEASE * 0.9)
    assert await queue.extend_lease(claimed)
    assert (await get_job(db, job_id)).lease_expires_at == clock.now + timedelta(seconds=LEASE)
    clock.advance(LEASE * 0.9)  # past the first lease, within the extended one
    assert await queue.claim("w2") == []


# --- leases -------------------------------------------------------------------------------------


async def test_an_unexpired_lease_is_not_taken_over(
    db: Database, other_db: Database, clock: FakeClock
) -> None:
    await add_job(db, run_at=clock.now)
    assert len(await make_queue(db, clock).claim("w1")) == 1
    clock.advance(LEASE - 0.001)
    assert await make_queue(other_db, clock).claim("w2") == []


SETTLE_OPERATIONS = {
    "complete": lambda queue, job: queue.complete(job, {"late": True}),
    "fail": lambda queue, job: queue.fail(job, "late failure", code="test_failure"),
    "fail-permanently": lambda queue, job: queue.fail(
        job, "late failure", code="test_failure", retryable=False
    ),
    "release": lambda queue, job: queue.release(job),
    "extend-lease": lambda queue, job: queue.extend_lease(job),
}


@pytest.mark.parametrize("operation", list(SETTLE_OPERATIONS), ids=list(SETTLE_OPERATIONS))
async def test_expired_lease_is_taken_over_and_the_first_worker_is_fenced_off(
    db: Database, other_db: Database, clock: FakeClock, operation: str
) -> None:
    job_id = await add_job(db, run_at=clock.now)
    crashed_queue, rescuer_queue = make_queue(db, clock), make_queue(other_db, clock)
    [stale] = await crashed_queue.claim("crashed-worker")
    clock.advance(LEASE + 1)

    [taken] = await rescuer_queue.claim("rescuer")
    assert (taken.id, taken.attempts, taken.lease_owner) == (job_id, 2, "rescuer")
    assert "lease of crashed-worker expired" in ((await get_job(db, job_id)).last_error or "")

    assert not await SETTLE_OPERATIONS[operation](crashed_queue, stale)
    stored = await get_job(db, job_id)
    assert (stored.status, stored.lease_owner, stored.attempts) == (JobStatus.RUNNING, "rescuer", 2)
    assert stored.result is None

    assert await rescuer_queue.complete(taken, {"by": "rescuer"})
    assert (await get_job(db, job_id)).result == {"by": "rescuer"}


async def test_a_worker_does_not_take_over_jobs_it_is_still_running(db: Database, clock: FakeClock) -> None:
    # Its heartbeat was late, so the lease lapsed; nobody else took the job, and it must not either.
    job_id = await add_job(db, run_at=clock.now)
    queue = make_queue(db, clock)
    [running] = await queue.claim("w1")
    clock.advance(LEASE + 1)
    assert await queue.claim("w1", exclude={job_id}) == []
    assert await queue.extend_lease(running), "the late heartbeat could not renew the lapsed lease"
    assert await queue.complete(running, {"attempt": running.attempts})
    assert (await get_job(db, job_id)).attempts == 1


async def test_a_stale_handle_is_fenced_even_when_the_same_worker_reclaims(
    db: Database, clock: FakeClock
) -> None:
    # Same owner name, new attempt: only the attempt number tells the handles apart.
    job_id = await add_job(db, run_at=clock.now)
    queue = make_queue(db, clock)
    [first] = await queue.claim("w1")
    clock.advance(LEASE + 1)
    [second] = await queue.claim("w1")
    assert second.attempts == first.attempts + 1
    assert not await queue.complete(first, {"attempt": 1})
    assert await queue.complete(second, {"attempt": 2})
    assert (await get_job(db, job_id)).result == {"attempt": 2}


async def test_expired_lease_on_the_last_attempt_goes_dead(db: Database, clock: FakeClock) -> None:
    # A job that crashes its worker every time must not crash every worker forever.
    job_id = await add_job(db, max_attempts=2, run_at=clock.now)
    queue = make_queue(db, clock)
    for _ in range(2):
        assert len(await queue.claim("w1")) == 1
        clock.advance(LEASE + 1)
    assert await queue.claim("w2") == []
    stored = await get_job(db, job_id)
    assert (stored.status, stored.attempts, stored.lease_owner) == (JobStatus.DEAD, 2, None)
    assert "expired during the last attempt" in (stored.last_error or "")


# --- dead hooks ---------------------------------------------------------------------------------


class DeadLog:
    """A dead hook that records each death as a ``dead.seen`` job in the transaction it is given (so the
    record commits exactly when the job's death does); ``fail_for`` makes it raise for those job ids."""

    def __init__(self, fail_for: set[str] | None = None) -> None:
        self.fail_for = fail_for or set()

    async def __call__(self, session: AsyncSession, dead: DeadJob) -> None:
        await enqueue(
            session,
            "dead.seen",
            {"job": dead.id, "code": dead.code, "attempts": dead.attempts, "payload": dead.payload},
            run_at=FAR_FUTURE,
        )
        if dead.id in self.fail_for:
            raise RuntimeError("hook broke")


FAR_FUTURE = datetime(2999, 1, 1, tzinfo=UTC)


async def seen(db: Database) -> list[dict[str, Any]]:
    async with db.transaction() as session:
        rows = (await session.execute(select(Job).where(Job.kind == "dead.seen").order_by(Job.id))).scalars()
        return [dict(job.payload) for job in rows]


DEATHS = [
    pytest.param("last attempt failed", 1, True, id="last-attempt"),
    pytest.param("permanent error", 5, False, id="permanent"),
]


@pytest.mark.parametrize(("case", "max_attempts", "retryable"), DEATHS)
async def test_a_jobs_death_runs_its_kinds_dead_hook_in_the_same_transaction(
    db: Database, clock: FakeClock, case: str, max_attempts: int, retryable: bool
) -> None:
    job_id = await add_job(db, payload={"run_id": "r1"}, max_attempts=max_attempts, run_at=clock.now)
    queue = make_queue(db, clock, on_dead={"test.kind": DeadLog()})
    [claimed] = await queue.claim("w1", kinds={"test.kind"})
    assert await queue.fail(claimed, case, code="test_failure", retryable=retryable)
    assert (await get_job(db, job_id)).status == JobStatus.DEAD
    assert await seen(db) == [
        {"job": job_id, "code": "test_failure", "attempts": 1, "payload": {"run_id": "r1"}}
    ]


async def test_no_dead_hook_for_a_retry_another_kind_or_a_lost_lease(db: Database, clock: FakeClock) -> None:
    retried = await add_job(db, max_attempts=3, run_at=clock.now)
    other = await add_job(db, kind="other.kind", max_attempts=1, run_at=clock.now)
    queue = make_queue(db, clock, on_dead={"test.kind": DeadLog()})
    first, second = sorted(await queue.claim("w1", limit=2), key=lambda job: job.kind != "test.kind")
    assert (first.id, second.id) == (retried, other)
    assert await queue.fail(first, "once", code="test_failure")
    assert await queue.fail(second, "other kind", code="test_failure")
    clock.advance(3600)
    [again] = await queue.claim("w1", kinds={"test.kind"})
    clock.advance(LEASE + 1)
    [taken] = await make_queue(db, clock).claim("w2", kinds={"test.kind"})  # last attempt, elsewhere
    assert taken.attempts == 3
    # The fenced-off attempt's death is refused, and so is its hook.
    assert not await queue.fail(again, "too late", code="test_failure")
    assert (await get_job(db, retried)).status == JobStatus.RUNNING
    assert await seen(db) == []


async def test_a_worker_dying_on_the_last_attempt_runs_the_dead_hook_at_the_next_claim(
    db: Database, clock: FakeClock
) -> None:
    job_id = await add_job(db, payload={"n": 1}, max_attempts=1, run_at=clock.now)
    queue = make_queue(db, clock, on_dead={"test.kind": DeadLog()})
    assert len(await queue.claim("w1")) == 1
    clock.advance(LEASE + 1)
    assert await queue.claim("w2") == []
    assert (await get_job(db, job_id)).status == JobStatus.DEAD
    assert await seen(db) == [{"job": job_id, "code": LEASE_EXPIRED, "attempts": 1, "payload": {"n": 1}}]


async def test_a_failing_dead_hook_is_undone_alone_and_never_blocks_claims(
    db: Database, clock: FakeClock
) -> None:
    broken = await add_job(db, max_attempts=1, run_at=clock.now - timedelta(seconds=2))
    fine = await add_job(db, max_attempts=1, run_at=clock.now - timedelta(seconds=1))
    queue = make_queue(db, clock, on_dead={"test.kind": DeadLog(fail_for={broken})})
    assert len(await queue.claim("w1", limit=2)) == 2
    clock.advance(LEASE + 1)
    waiting = await add_job(db, run_at=clock.now)
    # Both expired jobs die in this claim; the broken hook's writes are rolled back, the rest stand.
    assert [job.id for job in await queue.claim("w2", limit=5)] == [waiting]
    assert {(await get_job(db, i)).status for i in (broken, fine)} == {JobStatus.DEAD}
    assert [entry["job"] for entry in await seen(db)] == [fine]

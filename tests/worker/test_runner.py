"""The worker end to end on a real database: handlers, retries, dead letters, heartbeats, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from typing import Any

import pytest
from sqlalchemy import update

from neo_service_layer.config import Settings
from neo_service_layer.db.models import Job, JobStatus
from neo_service_layer.db.session import Database
from neo_service_layer.worker.context import Handler, JobContext, PermanentJobError
from neo_service_layer.worker.queue import ClaimedJob, JobQueue
from neo_service_layer.worker.runner import Worker
from tests.worker.helpers import add_job, get_job, job_status_is, wait_until


@pytest.fixture
async def workers() -> AsyncIterator[list[Worker]]:
    """Workers a test starts; stopped at the end even when the test fails."""
    started: list[Worker] = []
    yield started
    for worker in started:
        await worker.stop(grace_seconds=0)


async def start_worker(
    workers: list[Worker], db: Database, settings: Settings, handlers: dict[str, Handler], **kw: Any
) -> Worker:
    worker = Worker(db, settings, handlers, **kw)
    workers.append(worker)
    await worker.start()
    return worker


async def wait_for_status(db: Database, job_id: str, status: JobStatus) -> Job:
    async def reached() -> bool:
        return await job_status_is(db, job_id, status)

    await wait_until(reached)
    return await get_job(db, job_id)


async def test_handlers_run_and_results_are_stored(
    db: Database, fast_settings: Settings, workers: list[Worker]
) -> None:
    async def double(ctx: JobContext) -> dict[str, Any]:
        return {"double": ctx.job.payload["n"] * 2, "attempt": ctx.job.attempts}

    ids = [await add_job(db, "math.double", {"n": n}) for n in range(6)]
    await start_worker(workers, db, fast_settings, {"math.double": double})
    for n, job_id in enumerate(ids):
        job = await wait_for_status(db, job_id, JobStatus.SUCCEEDED)
        assert job.result == {"double": 2 * n, "attempt": 1}
        assert (job.attempts, job.lease_owner, job.last_error) == (1, None, None)


async def test_a_failing_handler_is_retried_then_dead(
    db: Database, fast_settings: Settings, workers: list[Worker]
) -> None:
    attempts_seen: list[int] = []

    async def broken(ctx: JobContext) -> None:
        attempts_seen.append(ctx.job.attempts)
        raise RuntimeError(f"boom {ctx.job.attempts}")

    job_id = await add_job(db, "demo.broken", settings=fast_settings)
    await start_worker(workers, db, fast_settings, {"demo.broken": broken})
    job = await wait_for_status(db, job_id, JobStatus.DEAD)
    assert attempts_seen == [1, 2, 3]  # fast_settings.jobs.max_attempts
    assert (job.attempts, job.last_error, job.last_error_code) == (
        3,
        "RuntimeError: boom 3",
        "unexpected_error",
    )


async def test_a_flaky_handler_succeeds_on_retry(
    db: Database, fast_settings: Settings, workers: list[Worker]
) -> None:
    async def flaky(ctx: JobContext) -> dict[str, Any]:
        if ctx.job.attempts == 1:
            raise ConnectionError("upstream down")
        return {"ok": True}

    job_id = await add_job(db, "demo.flaky")
    await start_worker(workers, db, fast_settings, {"demo.flaky": flaky})
    job = await wait_for_status(db, job_id, JobStatus.SUCCEEDED)
    assert (job.attempts, job.result) == (2, {"ok": True})
    assert job.last_error == "ConnectionError: upstream down"


async def raises_permanent(ctx: JobContext) -> None:
    raise PermanentJobError("invalid_job_payload", "payload lacks 'url'")


async def returns_bytes(ctx: JobContext) -> dict[str, Any]:
    return {"raw": b"\x00"}


async def returns_list(ctx: JobContext) -> Any:
    return [1, 2]


@pytest.mark.parametrize(
    ("kind", "error", "code"),
    [
        ("nobody.handles.this", "no handler registered for job kind 'nobody.handles.this'", "no_handler"),
        ("demo.permanent", "PermanentJobError: payload lacks 'url'", "invalid_job_payload"),
        ("demo.bytes", "handler result is not JSON-serializable", "unserializable_result"),
        ("demo.list", "handler returned list, not a dict or None", "unserializable_result"),
    ],
    ids=["unknown-kind", "permanent-error", "result-not-json", "result-not-a-dict"],
)
async def test_jobs_that_cannot_succeed_go_dead_on_the_first_attempt(
    db: Database, fast_settings: Settings, workers: list[Worker], kind: str, error: str, code: str
) -> None:
    handlers: dict[str, Handler] = {
        "demo.permanent": raises_permanent,
        "demo.bytes": returns_bytes,
        "demo.list": returns_list,
    }
    job_id = await add_job(db, kind)
    await start_worker(workers, db, fast_settings, handlers)
    job = await wait_for_status(db, job_id, JobStatus.DEAD)
    assert job.attempts == 1
    assert error in (job.last_error or "")
    assert job.last_error_code == code  # the stable code apart from the message
    assert job.result is None


async def test_kinds_limits_what_a_worker_claims(
    db: Database, fast_settings: Settings, workers: list[Worker]
) -> None:
    async def ok(ctx: JobContext) -> None:
        return None

    mine = await add_job(db, "demo.mine")
    other = await add_job(db, "demo.other")
    await start_worker(workers, db, fast_settings, {"demo.mine": ok}, kinds={"demo.mine"})
    await wait_for_status(db, mine, JobStatus.SUCCEEDED)
    await asyncio.sleep(0.1)  # five more polls
    stored = await get_job(db, other)
    assert (stored.status, stored.attempts) == (JobStatus.QUEUED, 0)


async def test_concurrency_is_limited(db: Database, fast_settings: Settings, workers: list[Worker]) -> None:
    active = 0
    peak = 0

    async def slow(ctx: JobContext) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.05)
        active -= 1

    ids = [await add_job(db, "demo.slow") for _ in range(6)]
    await start_worker(workers, db, fast_settings, {"demo.slow": slow}, concurrency=2)
    for job_id in ids:
        await wait_for_status(db, job_id, JobStatus.SUCCEEDED)
    assert peak == 2


async def test_heartbeat_keeps_a_long_job_from_being_taken_over(
    db: Database, other_db: Database, fast_settings: Settings, workers: list[Worker]
) -> None:
    calls: list[str] = []

    async def long_job(ctx: JobContext) -> dict[str, Any]:
        calls.append(ctx.worker_id)
        await asyncio.sleep(2 * fast_settings.jobs.lease_seconds)
        return {"by": ctx.worker_id}

    job_id = await add_job(db, "demo.long")
    first = await start_worker(workers, db, fast_settings, {"demo.long": long_job})
    await wait_for_status(db, job_id, JobStatus.RUNNING)
    await start_worker(workers, other_db, fast_settings, {"demo.long": long_job})
    job = await wait_for_status(db, job_id, JobStatus.SUCCEEDED)
    assert calls == [first.worker_id]
    assert (job.attempts, job.result) == (1, {"by": first.worker_id})


async def test_a_handler_whose_lease_was_taken_over_is_cancelled(
    db: Database, fast_settings: Settings, workers: list[Worker]
) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def watched(ctx: JobContext) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    job_id = await add_job(db, "demo.watched")
    await start_worker(workers, db, fast_settings, {"demo.watched": watched})
    await asyncio.wait_for(started.wait(), 10)
    # What a takeover by another worker looks like in the row.
    async with db.transaction() as session:
        await session.execute(
            update(Job).where(Job.id == job_id).values(lease_owner="thief", attempts=Job.attempts + 1)
        )
    await asyncio.wait_for(cancelled.wait(), 10)
    await asyncio.sleep(0.1)
    job = await get_job(db, job_id)
    assert (job.status, job.lease_owner, job.attempts) == (JobStatus.RUNNING, "thief", 2)


async def test_graceful_stop_lets_a_slow_handler_finish(
    db: Database, fast_settings: Settings, workers: list[Worker]
) -> None:
    started = asyncio.Event()

    async def slow(ctx: JobContext) -> dict[str, Any]:
        started.set()
        await asyncio.sleep(0.3)
        return {"finished": True}

    job_id = await add_job(db, "demo.slow")
    worker = await start_worker(workers, db, fast_settings, {"demo.slow": slow})
    await asyncio.wait_for(started.wait(), 10)
    await worker.stop(grace_seconds=10)
    assert worker.running_job_ids == set()
    job = await get_job(db, job_id)
    assert (job.status, job.attempts, job.result) == (JobStatus.SUCCEEDED, 1, {"finished": True})


async def test_graceful_stop_releases_a_stuck_handler(
    db: Database, other_db: Database, fast_settings: Settings, workers: list[Worker]
) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def stuck(ctx: JobContext) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    job_id = await add_job(db, "demo.stuck")
    worker = await start_worker(workers, db, fast_settings, {"demo.stuck": stuck})
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.gather(worker.stop(grace_seconds=0.1), worker.stop(grace_seconds=0.1))
    await worker.stop()
    assert cancelled.is_set()
    job = await get_job(db, job_id)
    assert (job.status, job.attempts, job.lease_owner, job.lease_expires_at) == (
        JobStatus.QUEUED,
        0,
        None,
        None,
    )

    # Released, not abandoned: the next worker runs it at once, without waiting out the lease.
    async def done(ctx: JobContext) -> dict[str, Any]:
        return {"attempt": ctx.job.attempts}

    await start_worker(workers, other_db, fast_settings, {"demo.stuck": done})
    job = await wait_for_status(db, job_id, JobStatus.SUCCEEDED)
    assert job.result == {"attempt": 1}


async def test_start_and_stop_are_idempotent(db: Database, fast_settings: Settings) -> None:
    calls = 0

    async def count(ctx: JobContext) -> None:
        nonlocal calls
        calls += 1

    worker = Worker(db, fast_settings, {"demo.count": count})
    await worker.stop()  # never started: nothing to do
    await worker.start()
    await worker.start()
    job_id = await add_job(db, "demo.count")
    await wait_for_status(db, job_id, JobStatus.SUCCEEDED)
    await worker.stop()
    await worker.stop()
    await worker.start()  # a stopped worker stays stopped
    later = await add_job(db, "demo.count")
    await asyncio.sleep(0.1)
    assert calls == 1
    assert (await get_job(db, later)).status == JobStatus.QUEUED


class FlakyQueue(JobQueue):
    """The real queue, but the first claims and heartbeats fail as if the database were away."""

    def __init__(self, db: Database, settings: Settings, *, failing_claims: int, failing_beats: int) -> None:
        super().__init__(db, lease_seconds=settings.jobs.lease_seconds)
        self.failing_claims = failing_claims
        self.failing_beats = failing_beats

    async def claim(
        self,
        worker_id: str,
        kinds: Collection[str] | None = None,
        limit: int = 1,
        *,
        exclude: Collection[str] = (),
    ) -> list[ClaimedJob]:
        if self.failing_claims:
            self.failing_claims -= 1
            raise ConnectionRefusedError("database is restarting")
        return await super().claim(worker_id, kinds, limit, exclude=exclude)

    async def extend_lease(self, job: ClaimedJob) -> bool:
        if self.failing_beats:
            self.failing_beats -= 1
            raise ConnectionRefusedError("database is restarting")
        return await super().extend_lease(job)


async def test_the_worker_rides_out_database_errors(
    db: Database, fast_settings: Settings, workers: list[Worker]
) -> None:
    async def outlives_a_lease(ctx: JobContext) -> dict[str, Any]:
        await asyncio.sleep(fast_settings.jobs.lease_seconds * 1.5)
        return {"attempt": ctx.job.attempts}

    queue = FlakyQueue(db, fast_settings, failing_claims=3, failing_beats=1)
    job_id = await add_job(db, "demo.outage")
    await start_worker(workers, db, fast_settings, {"demo.outage": outlives_a_lease}, queue=queue)
    job = await wait_for_status(db, job_id, JobStatus.SUCCEEDED)
    assert (queue.failing_claims, queue.failing_beats) == (0, 0)
    assert (job.attempts, job.result) == (1, {"attempt": 1})

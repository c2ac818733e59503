"""``run_worker``: in-process with a stop event, and as a real process that is killed or terminated."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from neo_service_layer.config import Settings
from neo_service_layer.constants import SCHEDULER_LEASE
from neo_service_layer.db.models import Job, JobStatus, Lease
from neo_service_layer.db.session import Database
from neo_service_layer.worker.context import JobContext
from neo_service_layer.worker.maintenance import PURGE_KIND, purge_task
from neo_service_layer.worker.process import run_worker
from neo_service_layer.worker.runner import Worker
from tests.worker.crash_worker import HANG_KIND, hang_handler
from tests.worker.helpers import add_job, get_job, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
SUBPROCESS_LEASE_SECONDS = 1.0


async def test_run_worker_runs_jobs_and_the_scheduler_until_stopped(
    db: Database, fast_settings: Settings
) -> None:
    async def echo(ctx: JobContext) -> dict[str, Any]:
        return {"echo": ctx.job.payload["text"]}

    job_id = await add_job(db, "test.echo", {"text": "hello"})
    first_period = purge_task().period(datetime.now(UTC))
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(fast_settings, stop=stop, handlers={"test.echo": echo}))
    try:

        async def all_done() -> bool:
            async with db.transaction() as session:
                rows = (await session.execute(select(Job.kind, Job.status))).all()
            done = {kind for kind, status in rows if status == JobStatus.SUCCEEDED}
            return done == {"test.echo", PURGE_KIND}

        await wait_until(all_done)
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
    assert (await get_job(db, job_id)).result == {"echo": "hello"}
    async with db.transaction() as session:
        purges = (await session.execute(select(Job).where(Job.kind == PURGE_KIND))).scalars().all()
        lease = await session.get(Lease, SCHEDULER_LEASE)
    periods = range(first_period, purge_task().period(datetime.now(UTC)) + 1)
    assert {job.idempotency_key for job in purges} <= {f"periodic:purge:{period}" for period in periods}
    assert purges[0].result == {"idempotency_records": 0, "jobs": 0}
    assert lease is None, "the scheduler kept its lease after a clean stop"


@pytest.fixture
def worker_process_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("NSL_")}
    env.update(
        NSL_DATABASE_URL=database_url,
        NSL_DATA_DIR=str(tmp_path / "data"),
        NSL_LOG_FORMAT="console",
        NSL_JOB_LEASE_SECONDS=str(SUBPROCESS_LEASE_SECONDS),
        NSL_WORKER_POLL_SECONDS="0.05",
        NSL_SCHEDULER_LOCK_SECONDS="1",
        PYTHONPATH=str(REPO_ROOT),
    )
    return env


@pytest.fixture
def spawn_worker(tmp_path: Path, worker_process_env: dict[str, str]) -> Iterator[Any]:
    """Start ``tests.worker.crash_worker`` processes; any still alive at the end are killed."""
    processes: list[subprocess.Popen[bytes]] = []

    def spawn(grace_seconds: float) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"worker-{len(processes)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.worker.crash_worker", str(grace_seconds)],
            cwd=REPO_ROOT,
            env=worker_process_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        processes.append(process)
        return process

    yield spawn
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def read_text(path: Path) -> str:
    """The file's text, or "" before it exists."""
    return path.read_text() if path.exists() else ""


async def wait_for_marker(marker: Path, process: subprocess.Popen[bytes], line_prefix: str) -> None:
    async def started() -> bool:
        assert process.poll() is None, f"worker process exited early with {process.returncode}"
        return (await asyncio.to_thread(read_text, marker)).startswith(line_prefix)

    await wait_until(started, within=60, interval=0.05)


@pytest.mark.slow
async def test_a_killed_workers_job_is_taken_over_and_completed_once(
    db: Database, fast_settings: Settings, tmp_path: Path, spawn_worker: Any
) -> None:
    marker = tmp_path / "executions.log"
    job_id = await add_job(db, HANG_KIND, {"marker": str(marker)})
    process = spawn_worker(grace_seconds=30)
    await wait_for_marker(marker, process, "start 1 ")
    crashed = await get_job(db, job_id)
    assert crashed.status == JobStatus.RUNNING
    assert crashed.lease_owner is not None

    process.send_signal(signal.SIGKILL)  # no shutdown code runs: the lease is all that is left
    await asyncio.to_thread(process.wait, 30)

    rescuer = Worker(db, fast_settings, {HANG_KIND: hang_handler}, kinds={HANG_KIND})
    await rescuer.start()
    try:

        async def succeeded() -> bool:
            return (await get_job(db, job_id)).status == JobStatus.SUCCEEDED

        await wait_until(succeeded, within=30)
    finally:
        await rescuer.stop(grace_seconds=0)

    job = await get_job(db, job_id)
    assert job.attempts == 2
    assert job.result == {"attempt": 2, "worker": rescuer.worker_id}
    assert f"lease of {crashed.lease_owner} expired" in (job.last_error or "")
    executions = [line.split()[:2] for line in (await asyncio.to_thread(read_text, marker)).splitlines()]
    assert executions == [["start", "1"], ["start", "2"], ["finish", "2"]]


@pytest.mark.slow
async def test_sigterm_releases_the_running_job_and_the_leadership(
    db: Database, tmp_path: Path, spawn_worker: Any
) -> None:
    marker = tmp_path / "executions.log"
    job_id = await add_job(db, HANG_KIND, {"marker": str(marker)})
    process = spawn_worker(grace_seconds=0.2)
    await wait_for_marker(marker, process, "start 1 ")

    process.send_signal(signal.SIGTERM)
    returncode = await asyncio.to_thread(process.wait, 30)
    assert returncode == 0, await asyncio.to_thread(read_text, tmp_path / "worker-0.log")

    job = await get_job(db, job_id)
    assert (job.status, job.attempts, job.lease_owner) == (JobStatus.QUEUED, 0, None)
    async with db.transaction() as session:
        assert await session.get(Lease, SCHEDULER_LEASE) is None
    assert (await asyncio.to_thread(read_text, marker)).count("finish") == 0

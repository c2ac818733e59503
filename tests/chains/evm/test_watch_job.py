"""The worker's chain watch job on a real anvil and a real database: every request enqueued exactly once,
progress stored with the jobs, nothing recorded when a run fails, and a real worker that follows the
chain across a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from neo_service_layer.chains.cursors import CursorMoved, load_cursor, save_cursor
from neo_service_layer.chains.evm.errors import EvmRpcUnavailable
from neo_service_layer.chains.evm.rpc import node_web3
from neo_service_layer.config import Settings
from neo_service_layer.db.models import Job
from neo_service_layer.db.session import Database
from neo_service_layer.worker.chain_watch import (
    EVM_REQUEST_KIND,
    EVM_WATCH_KIND,
    chain_tasks,
    evm_watcher,
    watch_once,
)
from neo_service_layer.worker.context import PermanentJobError
from neo_service_layer.worker.process import run_worker
from neo_service_layer.worker.queue import enqueue
from neo_service_layer.worker.service_jobs import service_handlers, service_tasks
from tests.chains.evm.flows import Nsl, mine, reorg, request_randomness
from tests.settings_helpers import settings_with
from tests.worker.helpers import wait_until


def _settings(tmp_path: Path, database_url: str, nsl: Nsl, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "log_format": "console",
        "evm": {
            "rpc_url": nsl.w3.provider.endpoint_uri,  # type: ignore[attr-defined]
            "gateway_address": nsl.gateway.address,
            "confirmations": 0,
            "start_block": nsl.w3.eth.block_number + 1,
        },
    }
    return settings_with(options, **overrides)


async def _request_jobs(db: Database) -> list[Job]:
    async with db.transaction() as session:
        query = select(Job).where(Job.kind == EVM_REQUEST_KIND).order_by(Job.created_at)
        return list((await session.execute(query)).scalars())


async def test_each_request_is_enqueued_once_with_the_cursor_it_reached(
    db: Database, nsl: Nsl, tmp_path: Path
) -> None:
    watcher = evm_watcher(_settings(tmp_path, db.url, nsl))
    ids = [request_randomness(nsl, bytes([i]), verify=i == 1)[0] for i in range(2)]

    first = await watch_once(db, watcher)
    again = await watch_once(db, watcher)

    jobs = await _request_jobs(db)
    assert [bytes.fromhex(job.payload["request_id"]) for job in jobs] == ids
    assert [job.payload["mode"] for job in jobs] == [0, 1]
    assert (first["found"], first["enqueued"], again["found"]) == (2, 2, 0)
    async with db.transaction() as session:
        stored = await load_cursor(session, watcher.chain)
    assert stored.position[-1][0] == nsl.w3.eth.block_number
    assert stored.version == 1  # the empty second scan did not write


async def test_a_lost_cursor_rescans_without_duplicating_jobs(db: Database, nsl: Nsl, tmp_path: Path) -> None:
    watcher = evm_watcher(_settings(tmp_path, db.url, nsl))
    request_randomness(nsl, b"x", verify=False)
    await watch_once(db, watcher)
    async with db.transaction() as session:  # as if progress had never been stored
        stored = await load_cursor(session, watcher.chain)
        await save_cursor(session, watcher.chain, [], expected_version=stored.version)

    rerun = await watch_once(db, watcher)

    assert (rerun["found"], rerun["enqueued"]) == (1, 0)
    assert len(await _request_jobs(db)) == 1


async def test_a_stale_cursor_write_rolls_back_the_jobs_with_it(db: Database) -> None:
    async with db.transaction() as session:
        await save_cursor(session, "evm:1", [[1, "aa"]], expected_version=0)

    async def enqueue_then_save(expected_version: int) -> None:
        async with db.transaction() as session:
            await enqueue(session, EVM_REQUEST_KIND, {"n": 1}, idempotency_key="evm:1:aa:0")
            await save_cursor(session, "evm:1", [[2, "bb"]], expected_version=expected_version)

    with pytest.raises(CursorMoved):
        await enqueue_then_save(0)  # created meanwhile by another watcher
    with pytest.raises(CursorMoved):
        await enqueue_then_save(5)  # moved on meanwhile
    async with db.transaction() as session:
        stored = await load_cursor(session, "evm:1")
        jobs = await session.scalar(select(func.count()).select_from(Job))
    assert (stored.position, stored.version, jobs) == ([[1, "aa"]], 1, 0)


async def test_a_reorg_is_reported_and_the_new_request_enqueued(
    db: Database, nsl: Nsl, tmp_path: Path
) -> None:
    mine(nsl, 1)  # the fork point: a block this test mined (``reorg``)
    watcher = evm_watcher(_settings(tmp_path, db.url, nsl))
    request_randomness(nsl, b"orphan", verify=False)
    await watch_once(db, watcher)
    reorg(nsl, 1)
    replacement, _ = request_randomness(nsl, b"new", verify=False)

    after = await watch_once(db, watcher)

    assert after["orphaned_from"] is not None
    jobs = await _request_jobs(db)
    assert bytes.fromhex(jobs[-1].payload["request_id"]) == replacement
    assert len(jobs) == 2


async def test_an_unreachable_node_fails_the_run_and_records_nothing(
    db: Database, nsl: Nsl, tmp_path: Path
) -> None:
    watcher = evm_watcher(_settings(tmp_path, db.url, nsl))
    request_randomness(nsl, b"x", verify=False)
    watcher.w3 = node_web3("http://127.0.0.1:9")  # the node went away (port 9: discard, nothing listens)

    with pytest.raises(EvmRpcUnavailable, match="ConnectionError"):
        await watch_once(db, watcher)
    with pytest.raises(EvmRpcUnavailable, match="ConnectionError"):
        evm_watcher(_settings(tmp_path, db.url, nsl, evm={"rpc_url": "http://127.0.0.1:9"}))
    async with db.transaction() as session:
        stored = await load_cursor(session, watcher.chain)
    assert (stored.version, await _request_jobs(db)) == (0, [])


def test_without_a_configured_chain_there_is_nothing_to_watch(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert chain_tasks(settings) == []
    with pytest.raises(PermanentJobError):
        evm_watcher(settings)


def test_a_configured_chain_is_watched_by_a_registered_handler(nsl: Nsl, tmp_path: Path) -> None:
    settings = _settings(tmp_path, "sqlite+aiosqlite:///x", nsl, evm={"poll_seconds": 0.5})
    tasks = service_tasks(settings)
    assert [t.kind for t in tasks if t.kind == EVM_WATCH_KIND] == [EVM_WATCH_KIND]
    assert all(task.kind in service_handlers() for task in tasks)


async def test_a_real_worker_follows_the_chain_across_a_restart(
    db: Database, nsl: Nsl, tmp_path: Path
) -> None:
    settings = _settings(
        tmp_path,
        db.url,
        nsl,
        evm={"poll_seconds": 0.2},
        jobs={"worker_poll_seconds": 0.05, "scheduler_lock_seconds": 1.0},
    )

    async def run_until(expected: int) -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(
            run_worker(settings, stop=stop, handlers=service_handlers(), tasks=service_tasks(settings))
        )
        try:

            async def enqueued() -> bool:
                return len(await _request_jobs(db)) >= expected

            await wait_until(enqueued)
        finally:
            stop.set()
            await asyncio.wait_for(running, 30)

    first, _ = request_randomness(nsl, b"before", verify=False)
    await run_until(1)
    second, _ = request_randomness(nsl, b"while stopped", verify=False)
    await run_until(2)

    jobs = await _request_jobs(db)
    assert [bytes.fromhex(job.payload["request_id"]) for job in jobs] == [first, second]

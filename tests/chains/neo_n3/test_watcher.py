"""The N3 watcher and its worker job on a real neo-go chain and a real database (both backends): requests
found from the configured gateway only, confirmations respected, the cursor stored with the jobs, each
request enqueued once across runs, RPC failures leave everything where it was."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from neo_service_layer.chains.cursors import load_cursor, save_cursor
from neo_service_layer.chains.neo_n3.errors import N3RpcUnavailable
from neo_service_layer.chains.neo_n3.rpc import N3Rpc
from neo_service_layer.chains.neo_n3.watcher import N3Watcher
from neo_service_layer.config import Settings
from neo_service_layer.db.models import Job
from neo_service_layer.db.session import Database
from neo_service_layer.worker.chain_watch import (
    N3_REQUEST_KIND,
    N3_WATCH_KIND,
    chain_tasks,
    n3_watch_once,
    n3_watcher,
)
from neo_service_layer.worker.context import PermanentJobError
from neo_service_layer.worker.service_jobs import service_handlers, service_tasks
from tests.chains.neo_n3.helpers import Nsl, send
from tests.chains.neo_n3.platform import N3Platform


async def request_jobs(db: Database) -> list[Job]:
    async with db.transaction() as session:
        query = select(Job).where(Job.kind == N3_REQUEST_KIND).order_by(Job.created_at)
        return list((await session.execute(query)).scalars())


async def wait_for_block(platform: N3Platform, index: int) -> None:
    for _ in range(100):
        if int(platform.devnet.rpc("getblockcount", [])) - 1 >= index:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"block {index} never came")


async def test_requests_of_the_gateway_are_enqueued_once_with_the_cursor(
    n3_platform: N3Platform, nsl: Nsl, tmp_path: Path
) -> None:
    watcher = n3_watcher(n3_platform.settings(tmp_path))
    ids, block = await n3_platform.request_randomness((b"a", False), (b"b", True))
    # Another gateway's request (the session deployment) in the range: not ours, skipped.
    state, _, _, exception = await send(
        nsl,
        [nsl.consumer("RandomnessConsumer").call_function("request_randomness", [b"x", False])],
        nsl.admin,
    )
    assert state == "HALT", exception

    first = await n3_watch_once(n3_platform.db, watcher)
    again = await n3_watch_once(n3_platform.db, watcher)
    await watcher.rpc.close()

    jobs = await request_jobs(n3_platform.db)
    payloads = [job.payload for job in jobs]
    assert [int(p["request_id"]) for p in payloads] == ids == [1, 2]
    assert [p["verify_on_chain"] for p in payloads] == [False, True]
    assert {p["gateway"] for p in payloads} == {n3_platform.gateway}
    assert all(p["block_index"] == block for p in payloads)
    assert [job.idempotency_key for job in jobs] == [
        f"n3:{n3_platform.deployment.magic}:{payloads[0]['tx_hash']}:{p['notification_index']}"
        for p in payloads
    ]
    assert (first["found"], first["enqueued"], again["found"], again["enqueued"]) == (2, 2, 0, 0)
    async with n3_platform.db.transaction() as session:
        stored = await load_cursor(session, n3_platform.chain)
    assert stored.position == again["last_block"] >= block


async def test_a_lost_cursor_rescans_without_duplicating_jobs(
    n3_platform: N3Platform, tmp_path: Path
) -> None:
    settings = n3_platform.settings(tmp_path)
    watcher = n3_watcher(settings)
    await n3_platform.request_randomness((b"x", False))
    await n3_watch_once(n3_platform.db, watcher)
    async with n3_platform.db.transaction() as session:  # as if progress had never been stored
        stored = await load_cursor(session, n3_platform.chain)
        await save_cursor(
            session, n3_platform.chain, settings.n3.start_block - 1, expected_version=stored.version
        )

    rerun = await n3_watch_once(n3_platform.db, watcher)
    await watcher.rpc.close()

    assert (rerun["found"], rerun["enqueued"]) == (1, 0)
    assert len(await request_jobs(n3_platform.db)) == 1


async def test_confirmations_hold_a_request_back_until_blocks_are_on_top(
    n3_platform: N3Platform, tmp_path: Path
) -> None:
    watcher = n3_watcher(n3_platform.settings(tmp_path, n3={"confirmations": 2}))
    _, block = await n3_platform.request_randomness((b"later", False))

    early = await n3_watch_once(n3_platform.db, watcher)
    await wait_for_block(n3_platform, block + 2)
    late = await n3_watch_once(n3_platform.db, watcher)
    await watcher.rpc.close()

    assert early["found"] == 0
    assert early["last_block"] is None or early["last_block"] < block
    assert late["found"] == 1
    assert late["last_block"] <= late["head"] - 2


async def test_an_unreachable_node_fails_the_run_and_records_nothing(
    n3_platform: N3Platform, tmp_path: Path
) -> None:
    await n3_platform.request_randomness((b"x", False))
    url = "http://127.0.0.1:9/provider-api-key-0123"  # port 9 (discard): nothing answers
    watcher = n3_watcher(n3_platform.settings(tmp_path, n3={"rpc_url": url}))

    with pytest.raises(N3RpcUnavailable) as unreachable:
        await n3_watch_once(n3_platform.db, watcher)
    assert "provider-api-key" not in str(unreachable.value)  # the error reaches logs and job rows
    await watcher.rpc.close()
    # Reachable, but a block read fails mid-scan (an index beyond the chain): still nothing recorded.
    broken = N3Watcher(N3Rpc(n3_platform.rpc_url), n3_platform.gateway, start_block=10**6)
    broken.confirmations = -(10**6)  # reach past the head: getblock answers "unknown block"
    with pytest.raises(N3RpcUnavailable):
        await n3_watch_once(n3_platform.db, broken)
    await broken.rpc.close()

    async with n3_platform.db.transaction() as session:
        stored = await load_cursor(session, n3_platform.chain)
    assert (stored.version, await request_jobs(n3_platform.db)) == (0, [])


def test_the_n3_watch_is_registered_only_for_a_configured_gateway(tmp_path: Path) -> None:
    bare = Settings(data_dir=tmp_path)
    configured = Settings(
        data_dir=tmp_path,
        n3={"rpc_url": "http://127.0.0.1:1", "gateway_hash": "0x" + "ab" * 20, "poll_seconds": 0.5},
    )

    assert [t.kind for t in chain_tasks(bare)] == []
    assert N3_REQUEST_KIND not in service_handlers(bare)
    with pytest.raises(PermanentJobError):
        n3_watcher(bare)
    assert [(t.kind, t.interval_seconds) for t in chain_tasks(configured)] == [(N3_WATCH_KIND, 0.5)]
    assert N3_REQUEST_KIND in service_handlers(configured)
    assert all(task.kind in service_handlers(configured) for task in service_tasks(configured))

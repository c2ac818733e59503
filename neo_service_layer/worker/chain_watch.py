"""The chain watcher jobs: one scan of a chain per run, its requests enqueued with the cursor it reached.

The scheduler enqueues ``chains.evm.watch`` every ``settings.evm.poll_seconds`` and ``chains.n3.watch``
every ``settings.n3.poll_seconds`` (in one process of the fleet); each run reads the stored cursor, scans
(``chains.evm.watcher`` / ``chains.neo_n3.watcher``) and then, in ONE transaction
(:func:`commit_scan`), enqueues a job per request found — ``chains.evm.request`` (EVM) or
``chains.n3.request`` — keyed by where the chain recorded it (``evm:<chain id>:<tx hash>:<log index>``,
``n3:<magic>:<tx hash>:<notification index>``), and moves the cursor with a compare-and-set. So:

- a worker killed mid-run commits nothing, and the next run scans the same blocks again;
- a request is enqueued once however often its block is scanned (the job's idempotency key);
- two runs racing over the same blocks cannot both move the cursor (``CursorMoved`` rolls one back);
- RPC errors fail the run, which the queue retries with backoff; the cursor stays where it was.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

from neo_service_layer.chains.cursors import StoredCursor, load_cursor, save_cursor
from neo_service_layer.chains.evm.rpc import node_web3
from neo_service_layer.chains.evm.watcher import Cursor, EvmWatcher
from neo_service_layer.chains.neo_n3.rpc import N3Rpc
from neo_service_layer.chains.neo_n3.watcher import N3Watcher
from neo_service_layer.config import Settings
from neo_service_layer.db.session import Database
from neo_service_layer.worker.context import JobContext, PermanentJobError
from neo_service_layer.worker.queue import ensure_enqueued
from neo_service_layer.worker.scheduler import PeriodicTask

EVM_WATCH_KIND = "chains.evm.watch"
#: A request seen on a chain, for the fulfiller.
EVM_REQUEST_KIND = "chains.evm.request"
N3_WATCH_KIND = "chains.n3.watch"
#: A request seen on a Neo N3 gateway, for the N3 fulfiller.
N3_REQUEST_KIND = "chains.n3.request"


def evm_watcher(settings: Settings) -> EvmWatcher:
    """The watcher the settings describe (it asks the node for the chain id: blocking, run in a thread)."""
    if not settings.evm.rpc_url or not settings.evm.gateway_address:
        raise PermanentJobError(
            "chain_not_configured",
            "NSL_EVM_RPC_URL and NSL_EVM_GATEWAY_ADDRESS must both be set to watch a chain",
        )
    return EvmWatcher(
        node_web3(settings.evm.rpc_url),
        settings.evm.gateway_address,
        confirmations=settings.evm.confirmations,
        start_block=settings.evm.start_block,
    )


class FoundRequest(Protocol):
    """A request a watcher found: where the chain recorded it, and the job payload."""

    @property
    def idempotency_key(self) -> str: ...

    def to_payload(self) -> dict[str, Any]: ...


async def stored_cursor(db: Database, chain: str) -> StoredCursor:
    async with db.transaction() as session:
        return await load_cursor(session, chain)


async def commit_scan(
    db: Database, chain: str, kind: str, requests: Sequence[FoundRequest], stored: StoredCursor, position: Any
) -> int:
    """Enqueue a ``kind`` job per request and store ``position`` (if it changed), in ONE transaction.

    ``position`` None: nothing processed yet, nothing to store. Returns how many jobs were created (a
    request already enqueued, by its idempotency key, is not).
    """
    enqueued = 0
    async with db.transaction() as session:
        for request in requests:
            _, created = await ensure_enqueued(
                session, kind, request.to_payload(), idempotency_key=request.idempotency_key
            )
            enqueued += created
        if position is not None and (position != stored.position or stored.version == 0):
            await save_cursor(session, chain, position, expected_version=stored.version)
    return enqueued


async def watch_once(db: Database, watcher: EvmWatcher) -> dict[str, Any]:
    """Scan from the stored cursor; enqueue what was found and store the new cursor together."""
    stored = await stored_cursor(db, watcher.chain)
    cursor = Cursor() if stored.position is None else Cursor.from_json(stored.position)
    scan = await asyncio.to_thread(watcher.scan, cursor)
    enqueued = await commit_scan(
        db, watcher.chain, EVM_REQUEST_KIND, scan.requests, stored, scan.cursor.to_json()
    )
    return {
        "chain": watcher.chain,
        "head": scan.head,
        "last_block": scan.cursor.last_block,
        "found": len(scan.requests),
        "enqueued": enqueued,
        "orphaned_from": scan.orphaned_from,
    }


async def evm_watch_handler(ctx: JobContext) -> dict[str, Any]:
    """Handler of ``chains.evm.watch`` (no payload)."""
    watcher = await asyncio.to_thread(evm_watcher, ctx.settings)
    result = await watch_once(ctx.db, watcher)
    if result["orphaned_from"] is not None:
        ctx.log.warning("chain reorganised; rescanned", **result)
    elif result["found"]:
        ctx.log.info("chain requests found", **result)
    return result


def n3_configured(settings: Settings | None) -> bool:
    return settings is not None and bool(settings.n3.rpc_url) and bool(settings.n3.gateway_hash)


def n3_watcher(settings: Settings) -> N3Watcher:
    """The N3 watcher the settings describe; close its ``rpc`` when done."""
    if not settings.n3.rpc_url or not settings.n3.gateway_hash:
        raise PermanentJobError(
            "chain_not_configured",
            "NSL_N3_RPC_URL and NSL_N3_GATEWAY_HASH must both be set to watch an N3 chain",
        )
    return N3Watcher(
        N3Rpc(settings.n3.rpc_url),
        settings.n3.gateway_hash,
        confirmations=settings.n3.confirmations,
        start_block=settings.n3.start_block,
    )


async def n3_watch_once(db: Database, watcher: N3Watcher) -> dict[str, Any]:
    """One N3 scan from the stored cursor (the last block index processed); jobs and cursor together."""
    chain = await watcher.chain()
    stored = await stored_cursor(db, chain)
    last = None if stored.position is None else int(stored.position)
    scan = await watcher.scan(last)
    enqueued = await commit_scan(db, chain, N3_REQUEST_KIND, scan.requests, stored, scan.last_block)
    return {
        "chain": chain,
        "head": scan.head,
        "last_block": scan.last_block,
        "found": len(scan.requests),
        "enqueued": enqueued,
    }


async def n3_watch_handler(ctx: JobContext) -> dict[str, Any]:
    """Handler of ``chains.n3.watch`` (no payload)."""
    watcher = n3_watcher(ctx.settings)
    try:
        result = await n3_watch_once(ctx.db, watcher)
    finally:
        await watcher.rpc.close()
    if result["found"]:
        ctx.log.info("chain requests found", **result)
    return result


def chain_tasks(settings: Settings) -> list[PeriodicTask]:
    """The watch tasks of the configured chains."""
    tasks = []
    if settings.evm.rpc_url and settings.evm.gateway_address:
        tasks.append(
            PeriodicTask(
                name="chains-evm-watch",
                interval_seconds=settings.evm.poll_seconds,
                kind=EVM_WATCH_KIND,
                max_attempts=1,  # the next period is the retry; failures must not pile up
            )
        )
    if n3_configured(settings):
        tasks.append(
            PeriodicTask(
                name="chains-n3-watch",
                interval_seconds=settings.n3.poll_seconds,
                kind=N3_WATCH_KIND,
                max_attempts=1,
            )
        )
    return tasks

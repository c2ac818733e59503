"""The chain watcher job: one scan of a chain per run, its requests enqueued with the cursor it reached.

The scheduler enqueues ``chains.evm.watch`` every ``evm_poll_seconds`` (in one process of the fleet);
each run reads the stored cursor, scans (``chains.evm.watcher``) and then, in ONE transaction, enqueues
a ``chains.request`` job per request found, keyed by where the chain recorded it
(``evm:<chain id>:<tx hash>:<log index>``), and moves the cursor with a compare-and-set. So:

- a worker killed mid-run commits nothing, and the next run scans the same blocks again;
- a request is enqueued once however often its block is scanned (the job's idempotency key);
- two runs racing over the same blocks cannot both move the cursor (``CursorMoved`` rolls one back);
- RPC errors fail the run, which the queue retries with backoff; the cursor stays where it was.
"""

from __future__ import annotations

import asyncio
from typing import Any

from web3 import Web3

from neo_service_layer.chains.cursors import load_cursor, save_cursor
from neo_service_layer.chains.evm.watcher import Cursor, EvmWatcher
from neo_service_layer.config import Settings
from neo_service_layer.db.session import Database
from neo_service_layer.worker.context import JobContext, PermanentJobError
from neo_service_layer.worker.queue import ensure_enqueued
from neo_service_layer.worker.scheduler import PeriodicTask

EVM_WATCH_KIND = "chains.evm.watch"
#: A request seen on a chain, for the fulfiller.
CHAIN_REQUEST_KIND = "chains.request"
_RPC_TIMEOUT_SECONDS = 10


def evm_watcher(settings: Settings) -> EvmWatcher:
    """The watcher the settings describe (it asks the node for the chain id: blocking, run in a thread)."""
    if not settings.evm_rpc_url or not settings.evm_gateway_address:
        raise PermanentJobError("evm_rpc_url and evm_gateway_address must both be set to watch a chain")
    provider = Web3.HTTPProvider(settings.evm_rpc_url, request_kwargs={"timeout": _RPC_TIMEOUT_SECONDS})
    return EvmWatcher(
        Web3(provider),
        settings.evm_gateway_address,
        confirmations=settings.evm_confirmations,
        start_block=settings.evm_start_block,
    )


async def watch_once(db: Database, watcher: EvmWatcher) -> dict[str, Any]:
    """Scan from the stored cursor; enqueue what was found and store the new cursor together."""
    async with db.transaction() as session:
        stored = await load_cursor(session, watcher.chain)
    cursor = Cursor() if stored.position is None else Cursor.from_json(stored.position)
    scan = await asyncio.to_thread(watcher.scan, cursor)
    enqueued = 0
    async with db.transaction() as session:
        for request in scan.requests:
            _, created = await ensure_enqueued(
                session, CHAIN_REQUEST_KIND, request.to_payload(), idempotency_key=request.idempotency_key
            )
            enqueued += created
        if scan.cursor != cursor or stored.version == 0:
            await save_cursor(session, watcher.chain, scan.cursor.to_json(), expected_version=stored.version)
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


def chain_tasks(settings: Settings) -> list[PeriodicTask]:
    """The watch task, when a chain is configured."""
    if not settings.evm_rpc_url or not settings.evm_gateway_address:
        return []
    return [
        PeriodicTask(
            name="chains-evm-watch",
            interval_seconds=settings.evm_poll_seconds,
            kind=EVM_WATCH_KIND,
            max_attempts=1,  # the next period is the retry; failures must not pile up
        )
    ]

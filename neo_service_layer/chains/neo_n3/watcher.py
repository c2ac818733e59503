"""Follow a Neo N3 gateway: find its ``Request`` notifications in new blocks.

One :meth:`N3Watcher.scan` is one step: from the block after the cursor (or ``start_block``) to
``height - 1 - confirmations`` (at most ``max_blocks``), each block is read with ``getblock`` and each of
its transactions' executions with ``getapplicationlog``; notifications emitted by the configured gateway
hash and named ``Request`` are decoded (``requests.decode_request``), everything else is skipped. The
cursor is just the last block index processed; it is stored by the worker in the same transaction as
the jobs it enqueues (worker/chain_watch.py), so progress and jobs are committed together or not at all.

No reorg handling: N3's dBFT consensus makes a block final once it is persisted (a block is committed by
≥ 2f+1 validators before any node persists it; neo-go ``pkg/consensus``, NEO docs "dBFT 2.0"), so a
block the node returns is never replaced. ``confirmations`` (default 0) is for operators who still want
a margin, e.g. behind a node that may lag its peers.

An RPC failure raises :class:`N3RpcUnavailable` (retryable) before anything is returned: the cursor
does not move and the next scan reads the same blocks again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, cast

from neo_service_layer.chains.neo_n3.errors import N3RpcUnavailable
from neo_service_layer.chains.neo_n3.requests import REQUEST_EVENT, N3Request, decode_request
from neo_service_layer.chains.neo_n3.rpc import N3Rpc

#: Blocks per scan: bounds one transaction of enqueued jobs.
DEFAULT_MAX_BLOCKS = 500
#: Blocks read concurrently.
_READ_AHEAD = 16


@dataclass(frozen=True, slots=True)
class N3Scan:
    """What one scan found: the requests in chain order and the last block processed (None: nothing yet)."""

    requests: list[N3Request]
    last_block: int | None
    head: int  # the newest block's index


@dataclass(frozen=True, slots=True)
class GatewayNotification:
    """A notification of the gateway, and where it was emitted."""

    block_index: int
    tx_hash: str
    index: int  # position among the transaction's notifications
    notification: dict[str, Any]


class N3Watcher:
    """Scans one gateway on one network; holds only configuration, never progress."""

    def __init__(
        self,
        rpc: N3Rpc,
        gateway: str,
        *,
        confirmations: int = 0,
        start_block: int = 0,
        max_blocks: int = DEFAULT_MAX_BLOCKS,
    ) -> None:
        if confirmations < 0 or start_block < 0 or max_blocks < 1:
            raise ValueError("confirmations and start_block must be >= 0, max_blocks >= 1")
        self.rpc = rpc
        self.gateway = gateway.lower() if gateway.startswith("0x") else f"0x{gateway.lower()}"
        self.confirmations = confirmations
        self.start_block = start_block
        self.max_blocks = max_blocks

    async def chain(self) -> str:
        """The chain's name in cursors and job keys: ``n3:<network magic>``."""
        return f"n3:{await self.rpc.magic()}"

    async def scan(self, last_block: int | None) -> N3Scan:
        """One step after ``last_block``: see the module docstring."""
        magic = await self.rpc.magic()
        head = await self.rpc.block_count() - 1
        first = last_block + 1 if last_block is not None else self.start_block
        last = min(head - self.confirmations, first + self.max_blocks - 1)
        if first > last:
            return N3Scan([], last_block, head)
        requests = [
            decode_request(
                magic,
                found.notification,
                block_index=found.block_index,
                tx_hash=found.tx_hash,
                notification_index=found.index,
            )
            async for found in self.notifications(first, last, REQUEST_EVENT)
        ]
        return N3Scan(requests, last, head)

    async def notifications(self, first: int, last: int, event: str) -> AsyncIterator[GatewayNotification]:
        """The gateway's ``event`` notifications in blocks ``first..last`` (successful executions only),
        in chain order."""
        for start in range(first, last + 1, _READ_AHEAD):
            indexes = range(start, min(last, start + _READ_AHEAD - 1) + 1)
            blocks = await _all(*(self._block_notifications(i, event) for i in indexes))
            for found in blocks:
                for notification in found:
                    yield notification

    async def _block_notifications(self, index: int, event: str) -> list[GatewayNotification]:
        block = await self.rpc.block(index)
        hashes = [str(tx["hash"]) for tx in block.get("tx", [])]
        logs = await _all(*(self.rpc.application_log(h) for h in hashes))
        found = []
        for tx_hash, log in zip(hashes, logs, strict=True):
            if log is None:  # the block holds it, so the node must know it: a node still indexing
                raise N3RpcUnavailable(f"no application log for {tx_hash} of block {index} yet")
            position = 0
            for execution in log.get("executions", []):
                for notification in execution.get("notifications", []):
                    if (
                        execution.get("vmstate") == "HALT"
                        and str(notification.get("contract", "")).lower() == self.gateway
                        and notification.get("eventname") == event
                    ):
                        found.append(GatewayNotification(index, tx_hash, position, notification))
                    position += 1
        return found


async def _all[T](*calls: Awaitable[T]) -> list[T]:
    """Like ``asyncio.gather``, but every call has finished before the first error is raised (no request
    is left running on a client that its owner is about to close)."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return cast(list[T], results)

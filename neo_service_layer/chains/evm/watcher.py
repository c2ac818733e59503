"""Follow an EVM chain's gateway: find new ``ServiceRequested`` logs in confirmed blocks, survive reorgs.

One :func:`scan` is one step: it starts after the last block the cursor has processed, stops at the
confirmed head (``head - confirmations``) or after ``max_blocks``, and returns the requests found and
the cursor to store *in the same transaction* as the jobs it enqueues (worker/chain_watch.py), so a
crash at any point either records both or neither, and the next scan picks up where the stored cursor
says. Nothing is kept in memory between scans.

Reorgs: the cursor keeps the hashes of the last ``window`` processed blocks. Each scan first checks
that the newest of them is still canonical; if not, it walks back to the newest one that is (the fork
point) and scans again from there. Requests from the orphaned blocks were already handed out: their
jobs find the request missing or already fulfilled on chain (the gateway refuses a fulfilment of an
unknown or fulfilled id), and a request re-mined on the new branch is a new log, found by the re-scan.
A reorg deeper than the window is refused (:class:`ReorgTooDeep`): an operator must look.

Consistency inside one scan: logs and block hashes come from separate RPC calls, between which the
chain may reorg. Every log must carry the hash the scan records for its block, and the headers must
link by parent hash to each other and to the cursor; otherwise the scan raises :class:`ChainMoved`
and changes nothing, and the next one retries.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from hexbytes import HexBytes
from web3 import Web3
from web3.types import FilterParams

from neo_service_layer.chains.evm.requests import (
    SERVICE_REQUESTED_TOPIC,
    ServiceRequest,
    decode_service_requested,
)
from neo_service_layer.errors import ServiceUnavailable

#: Blocks whose hashes the cursor keeps: the deepest reorg the watcher repairs by itself.
DEFAULT_REORG_WINDOW = 128
#: Blocks per scan: bounds one eth_getLogs call and one transaction of enqueued jobs.
DEFAULT_MAX_BLOCKS = 1000


class ChainMoved(ServiceUnavailable):
    """The chain reorganised while a scan was reading it; nothing was recorded, scan again."""

    code = "chain_moved"
    title = "Chain reorganised during a scan"


class ReorgTooDeep(ServiceUnavailable):
    """None of the blocks the cursor remembers is canonical any more."""

    code = "reorg_too_deep"
    title = "Chain reorganisation deeper than the watcher's window"


@dataclass(frozen=True, slots=True)
class Cursor:
    """The processed blocks' ``(number, hash)``, oldest first, at most the window; empty = nothing yet."""

    recent: tuple[tuple[int, bytes], ...] = ()

    @property
    def last_block(self) -> int | None:
        """The newest processed block, or None when nothing has been processed."""
        return self.recent[-1][0] if self.recent else None

    def to_json(self) -> list[list[Any]]:
        return [[number, block_hash.hex()] for number, block_hash in self.recent]

    @classmethod
    def from_json(cls, data: Sequence[Sequence[Any]]) -> Cursor:
        return cls(tuple((int(number), bytes.fromhex(str(block_hash))) for number, block_hash in data))


@dataclass(frozen=True, slots=True)
class Scan:
    """What one scan found: the requests (in chain order), the cursor to store, and any reorg repaired."""

    requests: list[ServiceRequest]
    cursor: Cursor
    orphaned_from: int | None = None  # first block number dropped by a reorg, if one was found
    head: int = 0


@dataclass(frozen=True, slots=True)
class _Header:
    number: int
    hash: bytes
    parent: bytes


class EvmWatcher:
    """Scans one gateway on one chain; holds only configuration, never progress."""

    def __init__(
        self,
        w3: Web3,
        gateway: str,
        *,
        confirmations: int = 0,
        start_block: int = 0,
        max_blocks: int = DEFAULT_MAX_BLOCKS,
        window: int = DEFAULT_REORG_WINDOW,
    ) -> None:
        if confirmations < 0 or start_block < 0 or max_blocks < 1 or window < 1:
            raise ValueError("confirmations and start_block must be >= 0, max_blocks and window >= 1")
        self.w3 = w3
        self.gateway = Web3.to_checksum_address(gateway)
        self.confirmations = confirmations
        self.start_block = start_block
        self.max_blocks = max_blocks
        self.window = window
        self.chain_id = int(w3.eth.chain_id)

    @property
    def chain(self) -> str:
        """The chain's name in cursors and job keys: ``evm:<chain id>``."""
        return f"evm:{self.chain_id}"

    def scan(self, cursor: Cursor) -> Scan:
        """One step from ``cursor``: see the module docstring."""
        cursor, orphaned_from = self._repair(cursor)
        head = int(self.w3.eth.block_number)
        safe = head - self.confirmations
        first = cursor.last_block + 1 if cursor.last_block is not None else self.start_block
        if first > safe:
            return Scan([], cursor, orphaned_from, head)
        last = min(safe, first + self.max_blocks - 1)
        headers = self._headers(max(first, last - self.window + 1), last)
        self._check_links(cursor, headers, first)
        requests = self._requests(first, last, {h.number: h.hash for h in headers})
        recent = cursor.recent + tuple((h.number, h.hash) for h in headers)
        if headers[0].number != first:  # a catch-up longer than the window: older hashes are not contiguous
            recent = tuple((h.number, h.hash) for h in headers)
        return Scan(requests, Cursor(recent[-self.window :]), orphaned_from, head)

    # --- steps -----------------------------------------------------------------------------------------

    def _repair(self, cursor: Cursor) -> tuple[Cursor, int | None]:
        """``cursor`` cut back to its newest block that is still canonical, and the first dropped block."""
        for index in range(len(cursor.recent) - 1, -1, -1):
            number, block_hash = cursor.recent[index]
            if self._canonical_hash(number) == block_hash:
                if index == len(cursor.recent) - 1:
                    return cursor, None
                return Cursor(cursor.recent[: index + 1]), number + 1
        if not cursor.recent:
            return cursor, None
        if cursor.recent[0][0] <= self.start_block:  # everything since the start block was replaced
            return Cursor(), cursor.recent[0][0]
        raise ReorgTooDeep(
            f"none of blocks {cursor.recent[0][0]}..{cursor.recent[-1][0]} of {self.chain} is canonical"
        )

    def _canonical_hash(self, number: int) -> bytes | None:
        block = self.w3.eth.get_block(number)
        return bytes(block["hash"]) if block is not None and "hash" in block else None

    def _headers(self, first: int, last: int) -> list[_Header]:
        with self.w3.batch_requests() as batch:
            for number in range(first, last + 1):
                batch.add(self.w3.eth.get_block(number))
            blocks = batch.execute()
        headers = []
        for block in cast(list[Any], blocks):
            headers.append(_Header(int(block["number"]), bytes(block["hash"]), bytes(block["parentHash"])))
        return headers

    def _check_links(self, cursor: Cursor, headers: list[_Header], first: int) -> None:
        for parent, child in itertools.pairwise(headers):
            if child.parent != parent.hash:
                raise ChainMoved(
                    f"{self.chain}: block {child.number} does not follow the block read before it"
                )
        if cursor.recent and headers[0].number == first and headers[0].parent != cursor.recent[-1][1]:
            raise ChainMoved(f"{self.chain}: block {first} does not follow the cursor's last block")

    def _requests(self, first: int, last: int, hashes: dict[int, bytes]) -> list[ServiceRequest]:
        params: FilterParams = {
            "address": self.gateway,
            "topics": [HexBytes(SERVICE_REQUESTED_TOPIC).to_0x_hex()],
            "fromBlock": first,
            "toBlock": last,
        }
        requests = [decode_service_requested(self.chain_id, log) for log in self.w3.eth.get_logs(params)]
        for request in requests:
            expected = hashes.get(request.block_number)
            if expected is not None and expected != request.block_hash:
                raise ChainMoved(f"{self.chain}: block {request.block_number} changed while it was read")
        return sorted(requests, key=lambda r: (r.block_number, r.log_index))

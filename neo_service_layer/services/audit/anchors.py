"""Anchors: the newest audit checkpoint published on an EVM chain, and the log checked against them.

An export of the checkpoints (``checkpoints.py``) catches a database writer who deletes or rewrites
checkpoints, but only if an operator keeps one off the box. An anchor needs no operator: the worker's
``audit.anchor`` job sends ``NSLGateway.anchorAudit(seq, checkpointHash)`` from the platform's anchor key
(``platform-evm-anchor-<chain id>``, a reserved key with nonces of its own: the relayer's belong to the
fulfiller), and the gateway emits ``AuditAnchored(anchorer, seq, checkpointHash)``. The chain keeps it
with its block's timestamp, out of reach of the database.

Sending follows the fulfillers' rule: the signed transaction is recorded (``audit_anchors``), then
broadcast; a later run confirms it from its receipt, or broadcasts the recorded bytes again if the node
lost it. One anchor is in flight at a time; anchoring the newest checkpoint covers every older one
(a checkpoint extends all before it).

Verification (:func:`anchor_findings`) reads the ``AuditAnchored`` logs of the anchorer from the chain —
never the rows — and requires, for each, a stored checkpoint at that entry with that hash: a writer who
deleted checkpoints, or signed a second history of the log, is caught (docs/audit.md §5).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from sqlalchemy import select
from web3 import Web3
from web3.types import FilterParams

from neo_service_layer.chains.evm.contract_rpc import selector
from neo_service_layer.chains.evm.gateway_rpc import GatewayRpc
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import AnchorStatus, AuditAnchor, AuditCheckpoint
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import EnclaveClient
from neo_service_layer.enclave.crypto import evm
from neo_service_layer.services.audit.verification import Finding
from neo_service_layer.services.keys.models import Key, KeyVersion
from neo_service_layer.services.keys.operations import KeyUse, sign_evm_tx
from neo_service_layer.services.keys.platform import evm_anchor_key, evm_anchor_key_name, public_key_of

ANCHOR_SIGNATURE: Final = "anchorAudit(uint64,bytes32)"
ANCHORED_SIGNATURE: Final = "AuditAnchored(address,uint64,bytes32)"
ANCHORED_TOPIC: Final = keccak(text=ANCHORED_SIGNATURE)
#: Head-room over eth_estimateGas, as for every other transaction NSL sends.
GAS_MARGIN_PERCENT: Final = 20
#: Blocks per eth_getLogs call when reading anchors back (nodes cap the range of one query).
LOG_RANGE: Final = 10_000

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AnchorRun:
    """What one run of the anchor job did: ``sent``, ``confirmed``, ``waiting`` (an anchor is in flight)
    or ``nothing`` (no checkpoint, or the newest is anchored already)."""

    action: str
    seq: int | None = None
    tx_hash: str | None = None


@dataclass(frozen=True, slots=True)
class OnchainAnchor:
    """One ``AuditAnchored`` log: which checkpoint, in which block and transaction."""

    seq: int
    checkpoint_hash: str  # lowercase hex, as the checkpoints table keeps it
    block_number: int
    tx_hash: str


def anchor_calldata(seq: int, checkpoint_hash: str) -> bytes:
    """ABI call data of ``anchorAudit(seq, checkpointHash)``."""
    return selector(ANCHOR_SIGNATURE) + abi_encode(
        ["uint64", "bytes32"], [seq, bytes.fromhex(checkpoint_hash)]
    )


class EvmAnchor:
    """Publishes checkpoints on one EVM gateway with the anchor key (module docstring)."""

    def __init__(self, db: Database, enclave: EnclaveClient, rpc: GatewayRpc, chain_id: int) -> None:
        self.db = db
        self.enclave = enclave
        self.rpc = rpc
        self.chain_id = chain_id
        self.chain = f"evm:{chain_id}"
        self._key: KeyUse | None = None

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    async def key(self) -> KeyUse:
        if self._key is None:
            self._key = await evm_anchor_key(self.db, self.enclave, self.chain_id)
        return self._key

    async def anchorer(self) -> str:
        """The anchor key's address: verifiers read its anchors only."""
        return Web3.to_checksum_address(evm.address(public_key_of(await self.key())))

    async def run(self) -> AnchorRun:
        """Settle the anchor in flight, else anchor the newest checkpoint if it is not yet."""
        async with self.db.session(for_read=True) as session:
            in_flight = (
                await session.execute(select(AuditAnchor).where(AuditAnchor.status == AnchorStatus.SENT))
            ).scalar_one_or_none()
            newest = (
                await session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1))
            ).scalar_one_or_none()
            anchored = (
                newest is not None and await session.get(AuditAnchor, newest.checkpoint_hash) is not None
            )
        if in_flight is not None:
            return await self._settle(in_flight)
        if newest is None or anchored:
            return AnchorRun("nothing")
        return await self._send(newest)

    async def _send(self, checkpoint: AuditCheckpoint) -> AnchorRun:
        anchorer = await self.anchorer()
        data = anchor_calldata(checkpoint.seq, checkpoint.checkpoint_hash)
        estimate = await self._call(self.rpc.estimate_gas, anchorer, data)
        fees = await self._call(self.rpc.fees)
        tx = {
            "type": 2,
            "chainId": self.chain_id,
            "to": self.rpc.gateway,
            "data": "0x" + data.hex(),
            "gas": estimate * (100 + GAS_MARGIN_PERCENT) // 100,
            "nonce": await self._call(self.rpc.pending_nonce, anchorer),
            "value": 0,
            "maxFeePerGas": hex(fees.max_fee_per_gas),
            "maxPriorityFeePerGas": hex(fees.max_priority_fee_per_gas),
        }
        signed = await sign_evm_tx(self.enclave, await self.key(), tx)
        row = AuditAnchor(
            checkpoint_hash=checkpoint.checkpoint_hash,
            seq=checkpoint.seq,
            chain=self.chain,
            anchorer=anchorer,
            tx_hash="0x" + signed.result.tx_hash.hex(),
            raw_tx=signed.result.raw_transaction,
            status=AnchorStatus.SENT,
        )
        async with self.db.transaction() as session:
            session.add(row)  # recorded, then broadcast: a crash in between rebroadcasts these bytes
        await self._call(self.rpc.broadcast, row.raw_tx)
        return AnchorRun(AnchorStatus.SENT, row.seq, row.tx_hash)

    async def _settle(self, row: AuditAnchor) -> AnchorRun:
        receipt = await self._call(self.rpc.receipt, row.tx_hash)
        if receipt is None:
            if not await self._call(self.rpc.knows, row.tx_hash):
                await self._call(self.rpc.broadcast, row.raw_tx)
            return AnchorRun("waiting", row.seq, row.tx_hash)
        async with self.db.transaction() as session:
            stored = await session.get_one(AuditAnchor, row.checkpoint_hash)
            stored.status = AnchorStatus.CONFIRMED
            stored.block_number = int(receipt["blockNumber"])
            stored.confirmed_at = utcnow()
        return AnchorRun(AnchorStatus.CONFIRMED, row.seq, row.tx_hash)


async def stored_anchorer(db: Database, chain_id: int) -> str | None:
    """The anchor key's address as the database records it (pin it with ``--anchorer`` instead: a
    database writer could point verification at another address)."""
    async with db.session(for_read=True) as session:
        public = (
            await session.execute(
                select(KeyVersion.public_key)
                .join(Key, (Key.id == KeyVersion.key_id) & (Key.latest_version == KeyVersion.version))
                .where(Key.name == evm_anchor_key_name(chain_id))
            )
        ).scalar_one_or_none()
    return Web3.to_checksum_address(evm.address(public)) if public else None


def onchain_anchors(rpc: GatewayRpc, anchorer: str, from_block: int = 0) -> list[OnchainAnchor]:
    """The ``AuditAnchored`` logs of ``anchorer`` on the gateway, oldest first (blocking: run in a thread)."""
    head = int(rpc.w3.eth.block_number)
    topic = HexBytes(bytes(12) + bytes.fromhex(Web3.to_checksum_address(anchorer)[2:])).to_0x_hex()
    found = []
    for start in range(from_block, head + 1, LOG_RANGE):
        params: FilterParams = {
            "address": rpc.gateway,
            "topics": [HexBytes(ANCHORED_TOPIC).to_0x_hex(), topic],
            "fromBlock": start,
            "toBlock": min(head, start + LOG_RANGE - 1),
        }
        for log in rpc.w3.eth.get_logs(params):
            (checkpoint_hash,) = abi_decode(["bytes32"], bytes(HexBytes(log["data"])))
            found.append(
                OnchainAnchor(
                    seq=int.from_bytes(bytes(log["topics"][2]), "big"),
                    checkpoint_hash=bytes(checkpoint_hash).hex(),
                    block_number=int(log["blockNumber"]),
                    tx_hash=HexBytes(log["transactionHash"]).to_0x_hex(),
                )
            )
    return found


def anchor_findings(anchors: Sequence[OnchainAnchor], stored: Sequence[AuditCheckpoint]) -> list[Finding]:
    """What the chain's anchors say about the stored checkpoints: each anchored one must be there."""
    by_seq = {row.seq: row for row in stored}
    findings = []
    for anchor in anchors:
        row = by_seq.get(anchor.seq)
        where = f"checkpoint at entry {anchor.seq} anchored in block {anchor.block_number}"
        if row is None:
            findings.append(
                Finding(f"{where} is not in the database: it was deleted", anchor.seq, anchor.seq)
            )
        elif row.checkpoint_hash != anchor.checkpoint_hash:
            findings.append(
                Finding(f"{where} differs from the stored one: the log was checkpointed again", anchor.seq)
            )
    return findings

"""What the fulfiller did for each on-chain request, and the relayers' nonces: the fulfiller's memory.

Shared by the chain families: ``chain`` is ``evm:<chain id>`` or ``n3:<network magic>``; the request key
is the EVM request id (hex) or ``<N3 gateway hash>:<request id>``. The diagram below is the EVM one; on
N3 there is no nonce (a transaction is valid until a block height instead) and an expired transaction
is rebuilt and signed again rather than replaced (docs/chains-neo-n3.md, "Fulfiller").

One ``chain_fulfilments`` row per (chain, request id), whatever number of jobs or attempts serve it::

    pending ──sign + record──> sent ──receipt (status 1) / already fulfilled on chain──> confirmed
       │                        │ └──not mined in time: same nonce, fees +12.5 % (recorded first)──┐
       │                        │ <─────────────────────────────────────────────────────────────────┘
       └── unknown on chain, not offered, would revert ──> failed <──reverted (decoded reason)──┘

The enclave's answer (``result``, ``signature``) is recorded once, before the first transaction is
signed, and every later transaction of the request (a fee bump, a rebuild after expiry, a new nonce, a
restart) carries that same answer: a service whose answer may change when asked again (the oracle)
still sends one answer per request. A confirmed row's ``result`` is the one the chain's ``Fulfilled``
event delivered. A signed transaction is recorded (hash, nonce, fees, the raw bytes) in its own
committed transaction BEFORE it is broadcast, so a worker killed at any point leaves a row that says
what may be on the chain; the next attempt looks for those hashes' receipts before it signs anything
new. The raw transaction is public once broadcast and holds no key material.

Nonces: one ``chain_nonces`` row per (chain, relayer address) is the lock. Allocation reads the
relayer's ``eth_getTransactionCount(pending)`` first, then, in one database transaction, takes the
lowest nonce at or above it that no unfinished fulfilment holds, and moves the row's version with a
compare-and-set; two allocators racing both read the same version and one of them retries. So two
requests never get one nonce, and a nonce left by a fulfilment that ended without broadcasting is
reused instead of leaving a gap that would stall every later transaction.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CursorResult,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from neo_service_layer.db.base import Base, UTCDateTime, enum_column, utcnow
from neo_service_layer.db.session import Database
from neo_service_layer.errors import ServiceUnavailable

# Stable failure reasons of every chain family (chain_fulfilments.failure_reason, job errors).
SERVICE_NOT_SUPPORTED = "service_not_supported_yet"
REQUEST_NOT_ON_CHAIN = "request_not_on_chain"

# Compare-and-set rounds before giving up: each lost round means another allocation succeeded.
MAX_NONCE_ROUNDS = 50


class FulfilmentStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    CONFIRMED = "confirmed"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (FulfilmentStatus.CONFIRMED, FulfilmentStatus.FAILED)


class ChainFulfilment(Base):
    """The fulfilment of one on-chain request (module docstring)."""

    __tablename__ = "chain_fulfilments"
    __table_args__ = (Index("ix_chain_fulfilments_relayer_status", "chain", "relayer", "status"),)

    chain: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # lowercase hex, no 0x
    service: Mapped[str] = mapped_column(String(32))
    mode: Mapped[int] = mapped_column(Integer)
    status: Mapped[FulfilmentStatus] = mapped_column(enum_column(FulfilmentStatus, 16))
    relayer: Mapped[str | None] = mapped_column(String(42), nullable=True)
    nonce: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The unsigned transaction (to, data, gas, chainId, nonce, type): a replacement changes the fees only.
    tx: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)  # the latest broadcast
    tx_hashes: Mapped[list[str]] = mapped_column(JSON)  # every signed version, oldest first
    raw_tx: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # the latest, for rebroadcast
    # The enclave's signed answer, recorded before the first send and re-sent by every later version (an
    # oracle answer may differ if asked again); once confirmed, ``result`` is what the chain delivered.
    result: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    signature: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    gas_limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_fee_per_gas: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_priority_fee_per_gas: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer)  # transactions signed (1 + replacements)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    gas_used: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    effective_gas_price: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    callback_success: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    failure_detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ChainNonce(Base):
    """The nonce lock of one relayer on one chain; ``next_nonce`` is one past the last one allocated."""

    __tablename__ = "chain_nonces"

    chain: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    next_nonce: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class FulfilmentPending(ServiceUnavailable):
    """A fulfilment transaction is signed and sent but not in a block yet; the job tries again later."""

    code = "fulfilment_pending"
    title = "Fulfilment transaction not mined yet"


class FeeBudgetExceeded(FulfilmentPending):
    """Even the current base fee would make the fulfilment cost more than the request paid: nothing is
    sent, and the job tries again later, when gas may be cheaper (docs/chains-evm.md, "Budget")."""

    code = "fee_budget_exceeded"
    title = "Fulfilment would cost more than the request paid"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a request ended (or stands), from its row: what a job stores as its result."""

    status: FulfilmentStatus
    reason: str | None
    detail: str | None
    tx_hash: str | None
    nonce: int | None
    attempts: int
    block_number: int | None
    callback_success: bool | None

    @classmethod
    def of(cls, row: ChainFulfilment) -> Outcome:
        return cls(
            row.status,
            row.failure_reason,
            row.failure_detail,
            row.tx_hash,
            row.nonce,
            row.attempts,
            row.block_number,
            row.callback_success,
        )

    def to_result(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "reason": self.reason,
            "detail": self.detail,
            "tx_hash": self.tx_hash,
            "nonce": self.nonce,
            "attempts": self.attempts,
            "block_number": self.block_number,
            "callback_success": self.callback_success,
        }


class NonceContention(RuntimeError):
    """Nonce allocation lost the compare-and-set more often than any real contention explains."""


class FulfilmentStore:
    """The rows of one chain's fulfilments; each method is one short committed transaction."""

    def __init__(self, db: Database, chain: str) -> None:
        self.db = db
        self.chain = chain

    async def ensure(self, request_id: str, service: str, mode: int) -> ChainFulfilment:
        """The request's row, created ``pending`` if this is the first time it is served."""
        async with self.db.transaction() as session:
            row = await session.get(ChainFulfilment, (self.chain, request_id))
            if row is not None:
                return row
            now = utcnow()
            row = ChainFulfilment(
                chain=self.chain,
                request_id=request_id,
                service=service,
                mode=mode,
                status=FulfilmentStatus.PENDING,
                tx_hashes=[],
                attempts=0,
                created_at=now,
                updated_at=now,
            )
            try:
                # Two jobs of one request (a log seen again after a reorg) may insert at once.
                async with session.begin_nested():
                    session.add(row)
            except IntegrityError:
                existing = await session.get(ChainFulfilment, (self.chain, request_id))
                if existing is None:
                    raise
                return existing
            return row

    async def get(self, request_id: str) -> ChainFulfilment:
        async with self.db.transaction() as session:
            row = await session.get(ChainFulfilment, (self.chain, request_id))
            assert row is not None, "ensure() creates the row first"
            return row

    async def update(self, request_id: str, **values: Any) -> ChainFulfilment:
        """Set ``values`` on the row and return it as stored."""
        async with self.db.transaction() as session:
            row = await session.get(ChainFulfilment, (self.chain, request_id), with_for_update=True)
            assert row is not None, "ensure() creates the row first"
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            return row

    async def finish(
        self, request_id: str, status: FulfilmentStatus, *, reason: str | None = None, **values: Any
    ) -> ChainFulfilment:
        """Mark the row confirmed or failed (with a stable ``reason`` code) and when it ended."""
        assert status.final
        return await self.update(
            request_id, status=status, failure_reason=reason, finished_at=utcnow(), **values
        )

    async def fail(self, request_id: str, reason: str, detail: str, **values: Any) -> ChainFulfilment:
        """Mark the row failed with the stable ``reason`` code and its ``detail`` (:meth:`finish`)."""
        return await self.finish(
            request_id, FulfilmentStatus.FAILED, reason=reason, failure_detail=detail, **values
        )

    async def record_answer(
        self, request_id: str, make: Callable[[], Awaitable[tuple[bytes, bytes]]]
    ) -> tuple[bytes, bytes]:
        """The request's answer ``(result, signature)``: the recorded one, else ``make()``'s, recorded
        first (module docstring). Of two fulfillers racing here, both send the one recorded first."""
        row = await self.get(request_id)
        if row.result is not None and row.signature is not None:
            return row.result, row.signature
        result, signature = await make()
        async with self.db.transaction() as session:
            locked = await session.get(ChainFulfilment, (self.chain, request_id), with_for_update=True)
            assert locked is not None, "ensure() creates the row first"
            if locked.result is None or locked.signature is None:
                locked.result, locked.signature = result, signature
                locked.updated_at = utcnow()
            return locked.result, locked.signature

    async def confirm(self, request_id: str, landed: bytes | None, **values: Any) -> ChainFulfilment:
        """Mark the row confirmed with the result the chain delivered (``landed``, from its ``Fulfilled``
        event; None when no evidence was found): the row then says what landed, and keeps our
        signature only when what landed is what we signed."""
        row = await self.get(request_id)
        if landed is not None and landed != row.result:
            values.update(result=landed, signature=None)
        return await self.finish(request_id, FulfilmentStatus.CONFIRMED, **values)

    async def record_signed(
        self, request_id: str, *, tx: dict[str, Any], tx_hash: str, raw_tx: bytes, **fees: Any
    ) -> ChainFulfilment:
        """Record a signed (not yet broadcast) transaction: status ``sent``, one more attempt.

        ``fees``: the chain's fee columns (EVM: ``gas_limit``, ``max_fee_per_gas``,
        ``max_priority_fee_per_gas``; N3 keeps its system and network fees in ``tx``).
        """
        async with self.db.transaction() as session:
            row = await session.get(ChainFulfilment, (self.chain, request_id), with_for_update=True)
            assert row is not None, "ensure() creates the row first"
            row.status = FulfilmentStatus.SENT
            row.tx = tx
            row.tx_hash = tx_hash
            row.tx_hashes = [*row.tx_hashes, tx_hash]  # a new list: JSON columns track assignment only
            row.raw_tx = raw_tx
            for name, value in fees.items():
                setattr(row, name, value)
            row.attempts += 1
            row.sent_at = utcnow()
            row.updated_at = row.sent_at
            return row

    async def allocate_nonce(self, request_id: str, relayer: str, pending_count: int) -> int:
        """The nonce of this request's transaction: its own if it has one, else a fresh one (module docs).

        ``pending_count`` is the relayer's ``eth_getTransactionCount(pending)``, read just before.
        """
        for _ in range(MAX_NONCE_ROUNDS):
            async with self.db.transaction() as session:
                # Locked: two allocations for one request (publishers of one round at once) must not
                # both see it without a nonce and give it one each — two transactions of one request.
                row = await session.get(ChainFulfilment, (self.chain, request_id), with_for_update=True)
                assert row is not None, "ensure() creates the row first"
                if row.nonce is not None and row.relayer == relayer:
                    return row.nonce
                lock = await session.get(ChainNonce, (self.chain, relayer))
                held = set(
                    (
                        await session.execute(
                            select(ChainFulfilment.nonce).where(
                                ChainFulfilment.chain == self.chain,
                                ChainFulfilment.relayer == relayer,
                                ChainFulfilment.status.in_([FulfilmentStatus.PENDING, FulfilmentStatus.SENT]),
                                ChainFulfilment.nonce.is_not(None),
                                ChainFulfilment.nonce >= pending_count,
                            )
                        )
                    ).scalars()
                )
                nonce = pending_count
                while nonce in held:
                    nonce += 1
                if not await self._move_lock(session, lock, relayer, nonce):
                    continue  # another allocation won this round; read again
                row.nonce = nonce
                row.relayer = relayer
                row.updated_at = utcnow()
                return nonce
        raise NonceContention(f"no nonce for {relayer} on {self.chain} after {MAX_NONCE_ROUNDS} rounds")

    async def _move_lock(self, session: Any, lock: ChainNonce | None, relayer: str, nonce: int) -> bool:
        """Compare-and-set the relayer's lock row; False if another transaction moved it first."""
        if lock is None:
            try:
                async with session.begin_nested():
                    session.add(
                        ChainNonce(chain=self.chain, address=relayer, next_nonce=nonce + 1, version=1)
                    )
            except IntegrityError:
                return False
            return True
        result = await session.execute(
            update(ChainNonce)
            .where(
                ChainNonce.chain == self.chain,
                ChainNonce.address == relayer,
                ChainNonce.version == lock.version,
            )
            .values(next_nonce=max(lock.next_nonce, nonce + 1), version=lock.version + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return cast(CursorResult[Any], result).rowcount == 1

"""Send one contract call as an enclave-signed EIP-1559 transaction of the relayer and see it mined:
the transaction machinery the fulfiller (:mod:`.fulfiller`) and the price publisher
(:mod:`.price_publisher`) share.

Each call is one ``chain_fulfilments`` row (:mod:`neo_service_layer.chains.fulfilments`, keyed by the
caller: a request id, a feed round), so the relayer's nonces are allocated from one pool whoever sends:

1. :meth:`EvmRelay.send`: fees capped to the caller's budget (``gas * maxFeePerGas <= budget``; nothing
   is sent, :class:`FeeBudgetExceeded`, when even the current base fee does not fit), a nonce allocated
   (``FulfilmentStore.allocate_nonce``), the transaction signed by the enclave with the relayer key,
   **recorded, then broadcast**;
2. :meth:`EvmRelay.track`: the receipt of any signed version is polled; a transaction the node no longer
   knows is broadcast again from the row's raw bytes; not mined within ``replace_after_seconds`` → the
   same transaction with fees raised by at least 12.5 % (the geth / anvil replacement rule is 10 %),
   signed again with the SAME nonce, recorded, broadcast — at most ``max_replacements`` times, and only
   within the budget. The caller decides what a receipt means (``settle``), and what the chain says
   when the relayer's nonce moved past ours without a receipt of ours (``reconcile``): if the chain
   decides nothing yet, the row goes back to ``pending`` without a nonce, to be sent again.

Every step trusts only the chain and the row: a process killed anywhere leaves a row that says what
may be on the chain, and the next :meth:`EvmRelay.track` of that row carries on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from web3.exceptions import Web3RPCError
from web3.types import TxReceipt

from neo_service_layer.chains.evm.contract_rpc import ContractRpc, Fees
from neo_service_layer.chains.fulfilments import (
    ChainFulfilment,
    FeeBudgetExceeded,
    FulfilmentPending,
    FulfilmentStatus,
    FulfilmentStore,
)
from neo_service_layer.config.groups import EvmSettings

DEFAULT_GAS_MARGIN_PERCENT = 20
DEFAULT_REPLACE_AFTER_SECONDS = 30.0
DEFAULT_MAX_REPLACEMENTS = 5
DEFAULT_RECEIPT_TIMEOUT_SECONDS = 300.0
DEFAULT_POLL_SECONDS = 0.25

# Stable failure reasons of every EVM sender (chain_fulfilments.failure_reason, job errors); the ones of
# every chain family are in fulfilments.
WOULD_REVERT = "would_revert"  # the gas estimate reverted: nothing was sent
TX_REVERTED = "tx_reverted"  # mined with status 0

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SignedTx:
    raw: bytes
    tx_hash: str  # 0x-hex


class TransactionSigner(Protocol):
    """The relayer key, in the enclave: signs transactions; holds no key material itself."""

    async def relayer(self) -> str:
        """The address whose key signs the transactions (it pays the gas)."""
        ...

    async def sign_transaction(self, tx: dict[str, Any]) -> SignedTx: ...


@dataclass(frozen=True, slots=True)
class FulfilPolicy:
    """Timing and fee policy of the relay (``NSL_EVM_FULFIL_*`` settings, shared by every sender)."""

    replace_after_seconds: float = DEFAULT_REPLACE_AFTER_SECONDS
    max_replacements: int = DEFAULT_MAX_REPLACEMENTS
    receipt_timeout_seconds: float = DEFAULT_RECEIPT_TIMEOUT_SECONDS
    poll_seconds: float = DEFAULT_POLL_SECONDS
    gas_margin_percent: int = DEFAULT_GAS_MARGIN_PERCENT

    @classmethod
    def from_settings(cls, evm: EvmSettings) -> FulfilPolicy:
        """The policy of the ``NSL_EVM_FULFIL_*`` settings."""
        return cls(
            replace_after_seconds=evm.fulfil_replace_seconds,
            max_replacements=evm.fulfil_max_replacements,
            receipt_timeout_seconds=evm.fulfil_timeout_seconds,
            poll_seconds=evm.fulfil_poll_seconds,
        )


def bump(value: int) -> int:
    """``value`` raised by at least 12.5 % (rounded up) and at least 1 wei."""
    return value + max(1, (value + 7) // 8)


def capped(fees: Fees, gas: int, budget: int) -> Fees | None:
    """``fees`` lowered so that ``gas * maxFeePerGas <= budget``; None if that is below the base fee."""
    max_fee = min(fees.max_fee_per_gas, budget // gas)
    if max_fee < max(fees.base_fee_per_gas, 1):
        return None
    tip = min(fees.max_priority_fee_per_gas, max_fee)
    return Fees(max_fee_per_gas=max_fee, max_priority_fee_per_gas=tip, base_fee_per_gas=fees.base_fee_per_gas)


class EvmRelay:
    """Sends calls to ``rpc``'s contract from ``signer``'s relayer, recorded in ``store`` (module docs)."""

    def __init__(
        self,
        rpc: ContractRpc,
        store: FulfilmentStore,
        signer: TransactionSigner,
        *,
        chain_id: int,
        policy: FulfilPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rpc = rpc
        self.store = store
        self.signer = signer
        self.chain_id = chain_id
        self.policy = policy or FulfilPolicy()
        self._clock = clock

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """A blocking node call, in a thread."""
        return await asyncio.to_thread(fn, *args)

    def gas_limit(self, estimate: int, floor: int = 0) -> int:
        """The estimate with the policy's margin (estimates are exact minima and state moves), at least
        ``floor``."""
        return max(estimate * (100 + self.policy.gas_margin_percent) // 100, floor)

    async def send(self, key: str, data: bytes, *, gas: int, budget: int) -> ChainFulfilment:
        """Sign, record, then broadcast a call of ``data`` with a nonce of its own (module docstring, 1).

        :class:`FeeBudgetExceeded` (nothing signed) when ``gas`` at the current base fee costs more than
        ``budget`` wei.
        """
        fees = capped(await self.call(self.rpc.fees), gas, budget)
        if fees is None:
            raise FeeBudgetExceeded(
                f"{key}: a budget of {budget} wei is less than {gas} gas at the current base fee; "
                "waiting for lower gas prices"
            )
        relayer = await self.signer.relayer()
        pending = await self.call(self.rpc.pending_nonce, relayer)
        nonce = await self.store.allocate_nonce(key, relayer, pending)
        tx = {
            "type": 2,
            "chainId": self.chain_id,
            "to": self.rpc.address,
            "data": "0x" + data.hex(),
            "gas": gas,
            "nonce": nonce,
            "value": 0,
        }
        return await self._sign_and_send(key, tx, fees)

    async def _sign_and_send(self, key: str, tx: dict[str, Any], fees: Fees) -> ChainFulfilment:
        """Sign ``tx`` with ``fees`` in the enclave, record it, then broadcast it (in that order)."""
        priced = {
            **tx,
            "maxFeePerGas": hex(fees.max_fee_per_gas),
            "maxPriorityFeePerGas": hex(fees.max_priority_fee_per_gas),
        }
        signed = await self.signer.sign_transaction(priced)
        row = await self.store.record_signed(
            key,
            tx=priced,
            tx_hash=signed.tx_hash,
            raw_tx=signed.raw,
            gas_limit=int(tx["gas"]),
            max_fee_per_gas=fees.max_fee_per_gas,
            max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
        )
        await self.broadcast(row)
        return row

    async def broadcast(self, row: ChainFulfilment) -> None:
        """Send the row's latest signed version (again)."""
        assert row.raw_tx is not None
        try:
            await self.call(self.rpc.broadcast, row.raw_tx)
        except Web3RPCError as e:
            # "nonce too low" (a version of ours was mined meanwhile) or an underpriced replacement:
            # the receipts and the next bump decide; the row already says what was signed.
            if "nonce too low" not in str(e).lower() and "underpriced" not in str(e).lower():
                raise

    async def track(
        self,
        row: ChainFulfilment,
        *,
        budget: int,
        settle: Callable[[ChainFulfilment, TxReceipt], Awaitable[T]],
        reconcile: Callable[[], Awaitable[T | None]],
    ) -> T:
        """Wait for a receipt of any signed version of ``row`` and ``settle`` it; replace with higher fees
        (within ``budget``) when it takes too long; :class:`FulfilmentPending` at the receipt timeout."""
        key = row.request_id
        relayer = await self.signer.relayer()
        deadline = self._clock() + self.policy.receipt_timeout_seconds
        last_send = self._clock()
        while True:
            for tx_hash in reversed(row.tx_hashes):
                receipt = await self.call(self.rpc.receipt, tx_hash)
                if receipt is not None:
                    return await settle(row, receipt)
            # Every round, not only the first: a node restarted or its pool evicted the transaction
            # while we wait. Signed and recorded, but the node lost it (or we died before sending it).
            assert row.tx_hash is not None
            if not await self.call(self.rpc.knows, row.tx_hash):
                await self.broadcast(row)
            mined = await self.call(self.rpc.mined_nonce, relayer)
            if row.nonce is not None and mined > row.nonce:
                return await self._nonce_used(row, relayer, settle, reconcile)
            now = self._clock()
            if now >= deadline:
                raise FulfilmentPending(f"{key}: no receipt for {row.tx_hash} yet (nonce {row.nonce})")
            replaceable = row.attempts <= self.policy.max_replacements
            if replaceable and now - last_send >= self.policy.replace_after_seconds:
                row = await self._replace(row, budget)
                last_send = self._clock()
            await asyncio.sleep(self.policy.poll_seconds)

    async def _nonce_used(
        self,
        row: ChainFulfilment,
        relayer: str,
        settle: Callable[[ChainFulfilment, TxReceipt], Awaitable[T]],
        reconcile: Callable[[], Awaitable[T | None]],
    ) -> T:
        """The relayer's nonce moved past ours: a version of ours was mined just now, or the nonce went
        to something else (a reorg dropped ours, an operator used the key). Decide from the chain."""
        for tx_hash in reversed(row.tx_hashes):  # mined between our receipt check and the nonce read
            receipt = await self.call(self.rpc.receipt, tx_hash)
            if receipt is not None:
                return await settle(row, receipt)
        outcome = await reconcile()
        if outcome is not None:
            return outcome
        # Still undecided on chain and none of our versions can be mined any more: start over with a new
        # nonce on the next attempt (the contract still refuses a second delivery, whatever happens).
        await self.store.update(row.request_id, status=FulfilmentStatus.PENDING, nonce=None, tx=None)
        raise FulfilmentPending(f"nonce {row.nonce} of {relayer} was used by another transaction; re-sending")

    async def _replace(self, row: ChainFulfilment, budget: int) -> ChainFulfilment:
        """The same transaction (same nonce) with fees raised by ≥ 12.5 %, or to the market if higher —
        unless that would exceed the budget: then the row stays as it is and we keep waiting."""
        assert row.tx is not None
        assert row.max_fee_per_gas is not None
        assert row.max_priority_fee_per_gas is not None
        market = await self.call(self.rpc.fees)
        tip = max(bump(row.max_priority_fee_per_gas), market.max_priority_fee_per_gas)
        wanted = max(bump(row.max_fee_per_gas), market.max_fee_per_gas, tip)
        max_fee = min(wanted, budget // int(row.tx["gas"]))
        if max_fee < bump(row.max_fee_per_gas) or tip > max_fee:
            return row  # a replacement must pay ≥ 10 % more (tip and cap): the budget leaves no room
        fees = Fees(max_fee_per_gas=max_fee, max_priority_fee_per_gas=tip)
        tx = {k: v for k, v in row.tx.items() if k not in ("maxFeePerGas", "maxPriorityFeePerGas")}
        return await self._sign_and_send(row.request_id, tx, fees)

    async def revert_reason(self, row: ChainFulfilment, receipt: TxReceipt) -> str:
        """Why the row's mined transaction reverted, decoded with the contract's errors."""
        assert row.tx is not None
        return await self.call(
            self.rpc.revert_reason,
            await self.signer.relayer(),
            bytes.fromhex(row.tx["data"][2:]),
            int(row.tx["gas"]),
            # The state after the block: what made it revert is there (a pause, a delivery before it).
            int(receipt["blockNumber"]),
        )


def mined(receipt: TxReceipt) -> dict[str, Any]:
    """A receipt's columns of the row: which transaction, where, and what it cost."""
    return {
        "tx_hash": receipt["transactionHash"].to_0x_hex(),
        "block_number": int(receipt["blockNumber"]),
        "gas_used": int(receipt["gasUsed"]),
        "effective_gas_price": int(receipt.get("effectiveGasPrice", 0)),
    }

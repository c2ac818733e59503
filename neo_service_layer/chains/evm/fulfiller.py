"""Fulfil gateway requests on an EVM chain: prove and sign in the enclave, send, track, record.

One :meth:`EvmFulfiller.fulfil` serves one ``ServiceRequested`` log (a ``chains.evm.request`` job). It is
safe to run any number of times, concurrently or after a crash at any point (docs/chains-evm.md,
"Fulfiller"), because it trusts only the chain and the row it recorded (``chains.fulfilments``):

1. **reconcile first**: ``getRequest(id)`` on chain. Fulfilled (by us earlier, even if we died before
   recording it, or by anyone) → ``confirmed`` with the ``Fulfilled`` log as evidence, nothing sent;
   unknown (orphaned by a reorg) → ``failed`` / ``request_not_on_chain``;
2. a transaction already recorded for the row → look for its receipt (and its replacements');
3. otherwise: the service's enclave op (``chains/onchain.py``; randomness:
   ``chains.evm_randomness_fulfilment``, with the payload hash and VRF key version the gateway stored)
   makes and signs the result — once: the answer is recorded on the row before anything is signed, and
   every later transaction of the request re-sends it (an oracle answer may change if asked again);
   gas is estimated (a revert here is decoded:
   ``AlreadyFulfilled`` → back to 1, anything else → ``failed``), the fees are capped to the request's
   budget (below), a nonce is allocated (``FulfilmentStore.allocate_nonce``), the enclave signs the
   EIP-1559 transaction with the relayer key, the signed transaction is **recorded, then broadcast**;
4. wait for the receipt, polling (a transaction the node no longer knows is broadcast again from the
   row's raw bytes); not mined within ``replace_after_seconds`` → the same transaction
   with fees raised by at least 12.5 % (the geth / anvil replacement rule is 10 %), signed again with
   the SAME nonce, recorded, broadcast — at most ``max_replacements`` times, and only within the
   budget. A receipt with status 1 → ``confirmed``; status 0 → the call is replayed to decode the
   custom error → ``failed``.

**Budget**: the relayer never risks more than the request paid (``feePaid``, which the gateway checked
covers the fee and ``gasForResponse`` at the request's gas price): every signed version has
``gas * maxFeePerGas <= feePaid``, and since a transaction costs at most its gas limit times its max fee,
a consumer whose callback burns all its gas costs the relayer no more than it paid. When even the
current base fee does not fit, nothing is sent: the request waits (:class:`FeeBudgetExceeded`,
``fee_budget_exceeded``) for gas prices to fall, and the job retries with backoff.

The gateway refuses a second fulfilment of an id (``AlreadyFulfilled``), so even two racing fulfillers
cannot deliver a request twice; reconciling from the chain makes them agree on the outcome.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from web3.exceptions import Web3RPCError
from web3.types import TxReceipt

from neo_service_layer.chains.evm import gateway_rpc
from neo_service_layer.chains.evm.gateway_rpc import Fees, GatewayRpc, RequestStatus, WouldRevert
from neo_service_layer.chains.evm.messages import Mode
from neo_service_layer.chains.evm.requests import ServiceRequest
from neo_service_layer.chains.fulfilments import (
    REQUEST_NOT_ON_CHAIN,
    SERVICE_NOT_SUPPORTED,
    ChainFulfilment,
    FeeBudgetExceeded,
    FulfilmentPending,
    FulfilmentStatus,
    FulfilmentStore,
    Outcome,
)
from neo_service_layer.chains.onchain import EvmAdapter, EvmRequestContext, Fulfilment, evm_adapter

#: Gas of ``fulfill`` around the callback and the proof check (measured 51,757; docs/chains-evm.md).
FULFIL_BASE_GAS = 60_000
#: On-chain DY-VRF verification (measured ~132k in the gateway; 142,386 as a bare verifier).
ONCHAIN_VERIFY_GAS = 142_000
#: ``_callWithExactGas`` keeps 5,000 back and forwards at most 63/64; a cold CALL costs 2,600.
CALLBACK_OVERHEAD_GAS = 5_000 + 2_600
DEFAULT_GAS_MARGIN_PERCENT = 20
DEFAULT_REPLACE_AFTER_SECONDS = 30.0
DEFAULT_MAX_REPLACEMENTS = 5
DEFAULT_RECEIPT_TIMEOUT_SECONDS = 300.0
DEFAULT_POLL_SECONDS = 0.25

# Stable failure reasons (chain_fulfilments.failure_reason, job errors); the shared ones in fulfilments.
WOULD_REVERT = "would_revert"
TX_REVERTED = "tx_reverted"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SignedTx:
    raw: bytes
    tx_hash: str  # 0x-hex


class FulfilmentSigner(Protocol):
    """The enclave side: proves results and signs transactions; holds no key material itself."""

    async def relayer(self) -> str:
        """The address whose key signs fulfilment transactions (it pays the gas)."""
        ...

    async def fulfil(self, adapter: EvmAdapter, context: EvmRequestContext) -> Fulfilment:
        """The result of the request in ``context``, made and signed by ``adapter``'s enclave op."""
        ...

    async def sign_transaction(self, tx: dict[str, Any]) -> SignedTx: ...


@dataclass(frozen=True, slots=True)
class FulfilPolicy:
    """Timing and fee policy of the fulfiller (``NSL_EVM_FULFIL_*`` settings)."""

    replace_after_seconds: float = DEFAULT_REPLACE_AFTER_SECONDS
    max_replacements: int = DEFAULT_MAX_REPLACEMENTS
    receipt_timeout_seconds: float = DEFAULT_RECEIPT_TIMEOUT_SECONDS
    poll_seconds: float = DEFAULT_POLL_SECONDS
    gas_margin_percent: int = DEFAULT_GAS_MARGIN_PERCENT


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


def gas_floor(mode: Mode, gas_for_response: int) -> int:
    """Gas a fulfilment needs whatever the estimate says: base, the callback's budget, the proof check."""
    callback = gas_for_response * 64 // 63 + CALLBACK_OVERHEAD_GAS if gas_for_response else 0
    return FULFIL_BASE_GAS + callback + (ONCHAIN_VERIFY_GAS if mode is Mode.ONCHAIN_VERIFY else 0)


class EvmFulfiller:
    """Fulfils requests of one gateway with one signer (module docstring)."""

    def __init__(
        self,
        rpc: GatewayRpc,
        store: FulfilmentStore,
        signer: FulfilmentSigner,
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

    async def _rpc(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    async def fulfil(self, request: ServiceRequest) -> Outcome:
        """Serve ``request`` to an outcome; :class:`FulfilmentPending` if its transaction is not mined yet."""
        key = request.request_id.hex()
        row = await self.store.ensure(key, request.service, int(request.mode))
        if row.status.final:
            return Outcome.of(row)
        adapter = evm_adapter(request.service)
        if adapter is None:
            detail = f"EVM gateways do not offer {request.service!r} yet (chains/onchain.py)"
            return Outcome.of(
                await self.store.finish(
                    key, FulfilmentStatus.FAILED, reason=SERVICE_NOT_SUPPORTED, failure_detail=detail
                )
            )
        reconciled = await self._reconcile(request)
        if reconciled is not None:
            return reconciled
        row = await self.store.get(key)
        relayer = await self.signer.relayer()
        if row.status is FulfilmentStatus.PENDING:
            stored = await self._rpc(self.rpc.get_request, request.request_id)
            context = EvmRequestContext(self.chain_id, self.rpc.gateway, request, stored)
            result, signature = await self.store.record_answer(key, lambda: self._answer(adapter, context))
            data = gateway_rpc.fulfill_calldata(request.request_id, result, signature)
            try:
                estimate = await self._rpc(self.rpc.estimate_gas, relayer, data)
            except WouldRevert as e:
                if gateway_rpc.revert_name(e.reason) == "AlreadyFulfilled":
                    return await self._reconcile(request) or Outcome.of(row)
                return Outcome.of(
                    await self.store.finish(
                        key, FulfilmentStatus.FAILED, reason=WOULD_REVERT, failure_detail=e.reason
                    )
                )
            gas = max(
                estimate * (100 + self.policy.gas_margin_percent) // 100,
                gas_floor(stored.mode, stored.gas_for_response),
            )
            fees = capped(await self._rpc(self.rpc.fees), gas, request.fee_paid)
            if fees is None:
                raise FeeBudgetExceeded(
                    f"request {key} paid {request.fee_paid} wei, less than {gas} gas at the current base "
                    "fee; waiting for lower gas prices"
                )
            pending = await self._rpc(self.rpc.pending_nonce, relayer)
            nonce = await self.store.allocate_nonce(key, relayer, pending)
            tx = {
                "type": 2,
                "chainId": self.chain_id,
                "to": self.rpc.gateway,
                "data": "0x" + data.hex(),
                "gas": gas,
                "nonce": nonce,
                "value": 0,
            }
            row = await self._sign_and_send(key, tx, fees)
        return await self._track(request, row, relayer)

    async def _answer(self, adapter: EvmAdapter, context: EvmRequestContext) -> tuple[bytes, bytes]:
        fulfilment = await self.signer.fulfil(adapter, context)
        return fulfilment.result, fulfilment.signature

    async def _reconcile(self, request: ServiceRequest) -> Outcome | None:
        """The outcome the chain already decides (fulfilled, or unknown), or None while it is pending."""
        key = request.request_id.hex()
        stored = await self._rpc(self.rpc.get_request, request.request_id)
        if stored.status is RequestStatus.PENDING:
            return None
        if stored.status is RequestStatus.NONE:
            detail = f"getRequest({request.request_id.hex()}) has status None: orphaned by a reorg?"
            row = await self.store.finish(
                key, FulfilmentStatus.FAILED, reason=REQUEST_NOT_ON_CHAIN, failure_detail=detail
            )
            return Outcome.of(row)
        log = await self._rpc(self.rpc.find_fulfilled, request.request_id, request.block_number)
        if log is None:  # fulfilled in state but the log is not visible yet (a lagging node): ask again later
            raise FulfilmentPending(f"request {key} is fulfilled on chain but its Fulfilled log is not found")
        receipt = await self._rpc(self.rpc.receipt, log.tx_hash)
        row = await self.store.confirm(
            key,
            log.result,
            tx_hash=log.tx_hash,
            block_number=log.block_number,
            callback_success=log.callback_success,
            gas_used=int(receipt["gasUsed"]) if receipt else None,
            effective_gas_price=int(receipt.get("effectiveGasPrice", 0)) if receipt else None,
        )
        return Outcome.of(row)

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
        await self._broadcast(row)
        return row

    async def _broadcast(self, row: ChainFulfilment) -> None:
        assert row.raw_tx is not None
        try:
            await self._rpc(self.rpc.broadcast, row.raw_tx)
        except Web3RPCError as e:
            # "nonce too low" (a version of ours was mined meanwhile) or an underpriced replacement:
            # the receipts and the next bump decide; the row already says what was signed.
            if "nonce too low" not in str(e).lower() and "underpriced" not in str(e).lower():
                raise

    async def _track(self, request: ServiceRequest, row: ChainFulfilment, relayer: str) -> Outcome:
        """Wait for a receipt of any signed version; replace with higher fees when it takes too long."""
        key = request.request_id.hex()
        deadline = self._clock() + self.policy.receipt_timeout_seconds
        last_send = self._clock()
        while True:
            for tx_hash in reversed(row.tx_hashes):
                receipt = await self._rpc(self.rpc.receipt, tx_hash)
                if receipt is not None:
                    return await self._settle(request, row, receipt, relayer)
            # Every round, not only the first: a node restarted or its pool evicted the transaction
            # while we wait. Signed and recorded, but the node lost it (or we died before sending it).
            if not await self._rpc(self.rpc.knows, row.tx_hash):
                await self._broadcast(row)
            mined = await self._rpc(self.rpc.mined_nonce, relayer)
            if row.nonce is not None and mined > row.nonce:
                outcome = await self._nonce_used(request, row, relayer)
                if outcome is not None:
                    return outcome
            now = self._clock()
            if now >= deadline:
                raise FulfilmentPending(
                    f"request {key}: no receipt for {row.tx_hash} yet (nonce {row.nonce})"
                )
            replaceable = row.attempts <= self.policy.max_replacements
            if replaceable and now - last_send >= self.policy.replace_after_seconds:
                row = await self._replace(key, row, request.fee_paid)
                last_send = self._clock()
            await asyncio.sleep(self.policy.poll_seconds)

    async def _nonce_used(
        self, request: ServiceRequest, row: ChainFulfilment, relayer: str
    ) -> Outcome | None:
        """The relayer's nonce moved past ours: a version of ours was mined just now, or the nonce went
        to something else (a reorg dropped ours, an operator used the key). Decide from the chain."""
        for tx_hash in reversed(row.tx_hashes):  # mined between our receipt check and the nonce read
            receipt = await self._rpc(self.rpc.receipt, tx_hash)
            if receipt is not None:
                return await self._settle(request, row, receipt, relayer)
        outcome = await self._reconcile(request)
        if outcome is not None:
            return outcome
        # Still pending on chain and none of our versions can be mined any more: start over with a new
        # nonce on the next attempt (the gateway still refuses a second fulfilment, whatever happens).
        await self.store.update(
            request.request_id.hex(), status=FulfilmentStatus.PENDING, nonce=None, tx=None
        )
        raise FulfilmentPending(f"nonce {row.nonce} of {relayer} was used by another transaction; re-sending")

    async def _replace(self, key: str, row: ChainFulfilment, budget: int) -> ChainFulfilment:
        """The same transaction (same nonce) with fees raised by ≥ 12.5 %, or to the market if higher —
        unless that would exceed the request's budget: then the row stays as it is and we keep waiting."""
        assert row.tx is not None
        assert row.max_fee_per_gas is not None
        assert row.max_priority_fee_per_gas is not None
        market = await self._rpc(self.rpc.fees)
        tip = max(bump(row.max_priority_fee_per_gas), market.max_priority_fee_per_gas)
        wanted = max(bump(row.max_fee_per_gas), market.max_fee_per_gas, tip)
        max_fee = min(wanted, budget // int(row.tx["gas"]))
        if max_fee < bump(row.max_fee_per_gas) or tip > max_fee:
            return row  # a replacement must pay ≥ 10 % more (tip and cap): the budget leaves no room
        fees = Fees(max_fee_per_gas=max_fee, max_priority_fee_per_gas=tip)
        tx = {k: v for k, v in row.tx.items() if k not in ("maxFeePerGas", "maxPriorityFeePerGas")}
        return await self._sign_and_send(key, tx, fees)

    async def _settle(
        self, request: ServiceRequest, row: ChainFulfilment, receipt: TxReceipt, relayer: str
    ) -> Outcome:
        key = request.request_id.hex()
        tx_hash = receipt["transactionHash"].to_0x_hex()
        mined: dict[str, Any] = {
            "tx_hash": tx_hash,
            "block_number": int(receipt["blockNumber"]),
            "gas_used": int(receipt["gasUsed"]),
            "effective_gas_price": int(receipt.get("effectiveGasPrice", 0)),
        }
        if receipt["status"] == 1:
            log = self.rpc.fulfilled_in(receipt, request.request_id)
            callback = log.callback_success if log is not None else None
            landed = log.result if log is not None else None
            done = await self.store.confirm(key, landed, callback_success=callback, **mined)
            return Outcome.of(done)
        assert row.tx is not None
        reason = await self._rpc(
            self.rpc.revert_reason,
            relayer,
            bytes.fromhex(row.tx["data"][2:]),
            int(row.tx["gas"]),
            # The state after the block: what made it revert is there (a pause, a fulfilment before it).
            int(receipt["blockNumber"]),
        )
        if gateway_rpc.revert_name(reason) == "AlreadyFulfilled":
            # Someone else's fulfilment was mined first: the chain has the evidence.
            outcome = await self._reconcile(request)
            if outcome is not None:
                return outcome
        done = await self.store.finish(
            key, FulfilmentStatus.FAILED, reason=TX_REVERTED, failure_detail=reason, **mined
        )
        return Outcome.of(done)

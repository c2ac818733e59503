"""Fulfil gateway requests on an EVM chain: prove and sign in the enclave, send, track, record.

One :meth:`EvmFulfiller.fulfil` serves one ``ServiceRequested`` log (a ``chains.evm.request`` job). It is
safe to run any number of times, concurrently or after a crash at any point (docs/chains-evm.md,
"Fulfiller"), because it trusts only the chain and the row it recorded (``chains.fulfilments``):

1. **reconcile first**: ``getRequest(id)`` on chain. Fulfilled (by us earlier, even if we died before
   recording it, or by anyone) → ``confirmed`` with the ``Fulfilled`` log as evidence, nothing sent;
   unknown (orphaned by a reorg) → ``failed`` / ``request_not_on_chain``;
2. a transaction already recorded for the row → look for its receipt (and its replacements');
3. otherwise (the transaction machinery is :mod:`.relay`'s, shared with the price publisher): the
   service's enclave op (``chains/onchain.py``; randomness:
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

from typing import Protocol

from web3.types import TxReceipt

from neo_service_layer.chains.evm import gateway_rpc
from neo_service_layer.chains.evm.contract_rpc import WouldRevert, revert_name
from neo_service_layer.chains.evm.gateway_rpc import GatewayRpc, RequestStatus
from neo_service_layer.chains.evm.messages import Mode
from neo_service_layer.chains.evm.relay import (
    TX_REVERTED,
    WOULD_REVERT,
    EvmRelay,
    FulfilPolicy,
    TransactionSigner,
    mined,
)
from neo_service_layer.chains.evm.requests import ServiceRequest
from neo_service_layer.chains.fulfilments import (
    REQUEST_NOT_ON_CHAIN,
    SERVICE_NOT_SUPPORTED,
    ChainFulfilment,
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


class FulfilmentSigner(TransactionSigner, Protocol):
    """The enclave side: proves results and signs transactions; holds no key material itself."""

    async def fulfil(self, adapter: EvmAdapter, context: EvmRequestContext) -> Fulfilment:
        """The result of the request in ``context``, made and signed by ``adapter``'s enclave op."""
        ...


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
        relay: EvmRelay | None = None,
    ) -> None:
        self.rpc = rpc
        self.store = store
        self.signer = signer
        self.chain_id = chain_id
        self.relay = relay or EvmRelay(rpc, store, signer, chain_id=chain_id, policy=policy)
        self._call = self.relay.call

    async def fulfil(self, request: ServiceRequest) -> Outcome:
        """Serve ``request`` to an outcome; :class:`FulfilmentPending` if its transaction is not mined yet."""
        key = request.request_id.hex()
        row = await self.store.ensure(key, request.service, int(request.mode))
        if row.status.final:
            return Outcome.of(row)
        adapter = evm_adapter(request.service)
        if adapter is None:
            detail = f"EVM gateways do not offer {request.service!r} yet (chains/onchain.py)"
            return Outcome.of(await self.store.fail(key, SERVICE_NOT_SUPPORTED, detail))
        reconciled = await self._reconcile(request)
        if reconciled is not None:
            return reconciled
        row = await self.store.get(key)
        if row.status is FulfilmentStatus.PENDING:
            stored = await self._call(self.rpc.get_request, request.request_id)
            context = EvmRequestContext(self.chain_id, self.rpc.gateway, request, stored)
            result, signature = await self.store.record_answer(key, lambda: self._answer(adapter, context))
            data = gateway_rpc.fulfill_calldata(request.request_id, result, signature)
            try:
                estimate = await self._call(self.rpc.estimate_gas, await self.signer.relayer(), data)
            except WouldRevert as e:
                if revert_name(e.reason) == "AlreadyFulfilled":
                    return await self._reconcile(request) or Outcome.of(row)
                return Outcome.of(await self.store.fail(key, WOULD_REVERT, e.reason))
            gas = self.relay.gas_limit(estimate, gas_floor(stored.mode, stored.gas_for_response))
            # The budget is what the request paid (module docstring): FeeBudgetExceeded if it is too small.
            row = await self.relay.send(key, data, gas=gas, budget=request.fee_paid)
        return await self.relay.track(
            row,
            budget=request.fee_paid,
            settle=lambda row, receipt: self._settle(request, row, receipt),
            reconcile=lambda: self._reconcile(request),
        )

    async def _answer(self, adapter: EvmAdapter, context: EvmRequestContext) -> tuple[bytes, bytes]:
        fulfilment = await self.signer.fulfil(adapter, context)
        return fulfilment.result, fulfilment.signature

    async def _reconcile(self, request: ServiceRequest) -> Outcome | None:
        """The outcome the chain already decides (fulfilled, or unknown), or None while it is pending."""
        key = request.request_id.hex()
        stored = await self._call(self.rpc.get_request, request.request_id)
        if stored.status is RequestStatus.PENDING:
            return None
        if stored.status is RequestStatus.NONE:
            detail = f"getRequest({request.request_id.hex()}) has status None: orphaned by a reorg?"
            row = await self.store.fail(key, REQUEST_NOT_ON_CHAIN, detail)
            return Outcome.of(row)
        log = await self._call(self.rpc.find_fulfilled, request.request_id, request.block_number)
        if log is None:  # fulfilled in state but the log is not visible yet (a lagging node): ask again later
            raise FulfilmentPending(f"request {key} is fulfilled on chain but its Fulfilled log is not found")
        receipt = await self._call(self.rpc.receipt, log.tx_hash)
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

    async def _settle(self, request: ServiceRequest, row: ChainFulfilment, receipt: TxReceipt) -> Outcome:
        key = request.request_id.hex()
        if receipt["status"] == 1:
            log = self.rpc.fulfilled_in(receipt, request.request_id)
            callback = log.callback_success if log is not None else None
            landed = log.result if log is not None else None
            done = await self.store.confirm(key, landed, callback_success=callback, **mined(receipt))
            return Outcome.of(done)
        reason = await self.relay.revert_reason(row, receipt)
        if revert_name(reason) == "AlreadyFulfilled":
            # Someone else's fulfilment was mined first: the chain has the evidence.
            outcome = await self._reconcile(request)
            if outcome is not None:
                return outcome
        done = await self.store.fail(key, TX_REVERTED, reason, **mined(receipt))
        return Outcome.of(done)

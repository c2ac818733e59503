"""Fulfil N3 gateway requests: prove and sign in the enclave, build and send ``fulfill``, record.

One :meth:`N3Fulfiller.fulfil` serves one ``Request`` notification (a ``chains.n3.request`` job). It is
safe to run any number of times, concurrently or after a crash at any point (docs/chains-neo-n3.md,
"Fulfiller"), because it trusts only the chain and the row it recorded (``chains.fulfilments``):

1. a transaction already recorded for the row → its application log decides (HALT → ``confirmed``;
   FAULT → step 2, then ``failed`` / ``tx_faulted``);
2. **reconcile**: ``is_fulfilled(id)`` → ``confirmed`` with the ``Fulfilled`` notification as evidence
   (ours, or anyone's, found from the request's block on), nothing sent; ``get_request(id)`` empty and
   not fulfilled → ``failed`` / ``request_not_on_chain``; otherwise the stored request gives what it
   paid and the VRF key version it is pinned to;
3. otherwise the service's enclave op makes and signs the result (``chains/onchain.py``; randomness:
   ``chains.n3_randomness_fulfilment``, with that key version) — once: the answer is recorded on the row
   first, and a rebuilt transaction re-sends it (an oracle answer may change if asked again); the
   ``fulfill`` script is test-invoked with the relayer as signer (FAULT → ``failed`` / ``would_fault``
   with the VM's exception, ``callback_gas_exceeded`` when it ran out of GAS; ``request already
   fulfilled`` → step 2) and its GAS consumed is the system fee; ``valid_until_block = blockcount +
   valid_blocks``; the network fee comes from ``calculatenetworkfee`` with the relayer's verification
   script; if the two together exceed what the request paid, nothing is sent (``failed`` /
   ``callback_gas_exceeded``); else ``keys.n3_sign_tx`` signs it with the relayer key in the enclave;
   the signed transaction is **recorded, then broadcast**;
4. wait for its application log. If the chain passes ``valid_until_block`` without it, the transaction
   can never be included: it is rebuilt (new nonce and fees, the same recorded answer) and sent again,
   at most ``max_resends`` times per attempt.

Building, signing, recording, broadcasting and tracking the transaction (steps 3 and 4) are
``relay.N3Relay``'s, shared with the price publisher. No fee bumping and no nonce management: an N3
transaction carries a random nonce and is valid until a block height, and its fees are fixed (the system
fee is what the test invocation used — burnt in full whatever the execution uses, so no margin is added;
the network fee is the verification cost).

**The relayer's budget.** NeoVM cannot bound the GAS of one contract call, so a consumer's callback could
make the relayer pay up to the node's invocation limit (``MaxGasInvoke``) if the system fee simply
followed the test invocation. The gateway charges every request its fee plus ``gas_for_response`` up
front (as the native OracleContract charges ``gasForResponse``); the fulfiller never signs a transaction
whose system and network fees together exceed that, and a callback that would need more is recorded as
``callback_gas_exceeded``. A callback that burns more in the real block than in the test invocation runs
out of the system fee and FAULTs (``callback_gas_exceeded`` again): the relayer has then paid at most
what the request paid.
The gateway refuses a second fulfilment (``request already fulfilled``), so even two racing fulfillers
cannot deliver a request twice; reconciling from the chain makes them agree on the outcome.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from neo_service_layer.chains.fulfilments import (
    REQUEST_NOT_ON_CHAIN,
    SERVICE_NOT_SUPPORTED,
    ChainFulfilment,
    FulfilmentPending,
    FulfilmentStatus,
    FulfilmentStore,
    Outcome,
)
from neo_service_layer.chains.neo_n3.relay import (
    DEFAULT_POLL_SECONDS,
    DEFAULT_VALID_BLOCKS,
    N3Relay,
    N3TransactionSigner,
    call_script,
    vm_state,
)
from neo_service_layer.chains.neo_n3.requests import N3Request, N3StoredRequest
from neo_service_layer.chains.neo_n3.rpc import N3Rpc, N3RpcError
from neo_service_layer.chains.neo_n3.watcher import N3Watcher
from neo_service_layer.chains.onchain import Fulfilment, N3Adapter, N3RequestContext, n3_adapter

DEFAULT_MAX_RESENDS = 3
DEFAULT_TIMEOUT_SECONDS = 600.0
#: How far past the request the reconciliation looks for a ``Fulfilled`` notification as evidence.
MAX_EVIDENCE_BLOCKS = 2000

# Stable failure reasons of the N3 fulfiller (chain_fulfilments.failure_reason, job errors).
WOULD_FAULT = "would_fault"
TX_FAULTED = "tx_faulted"
CALLBACK_GAS_EXCEEDED = "callback_gas_exceeded"
_ALREADY_FULFILLED = "request already fulfilled"
#: neo-go's words when an execution runs out of its GAS ("GAS limit exceeded"), matched lower-cased.
_OUT_OF_GAS = "gas limit exceeded"


class N3FulfilmentSigner(N3TransactionSigner, Protocol):
    """The enclave side: proves results and signs transactions; holds no key material itself."""

    async def fulfil(self, adapter: N3Adapter, context: N3RequestContext) -> Fulfilment:
        """The result of the request in ``context``, made and signed by ``adapter``'s enclave op."""
        ...


@dataclass(frozen=True, slots=True)
class N3FulfilPolicy:
    valid_blocks: int = DEFAULT_VALID_BLOCKS
    max_resends: int = DEFAULT_MAX_RESENDS
    poll_seconds: float = DEFAULT_POLL_SECONDS
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS


class N3Fulfiller:
    """Fulfils requests of one N3 gateway with one signer (module docstring)."""

    def __init__(
        self,
        rpc: N3Rpc,
        gateway: str,
        store: FulfilmentStore,
        signer: N3FulfilmentSigner,
        *,
        policy: N3FulfilPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rpc = rpc
        self.gateway = gateway.lower()
        self.store = store
        self.signer = signer
        self.policy = policy or N3FulfilPolicy()
        self._clock = clock
        self._notifications = N3Watcher(rpc, self.gateway)
        self.relay = N3Relay(rpc, store, signer, self.policy, clock=clock)

    async def fulfil(self, request: N3Request) -> Outcome:
        """Serve ``request`` to an outcome; :class:`FulfilmentPending` if it is not in a block yet."""
        key = request.fulfilment_key
        row = await self.store.ensure(key, request.service, request.mode)
        if row.status.final:
            return Outcome.of(row)
        adapter = n3_adapter(request.service)
        if adapter is None:
            detail = f"Neo N3 gateways do not offer {request.service!r} yet (chains/onchain.py)"
            return Outcome.of(await self.store.fail(key, SERVICE_NOT_SUPPORTED, detail))
        deadline = self._clock() + self.policy.timeout_seconds
        if row.status is FulfilmentStatus.SENT:
            outcome = await self._track(request, row, deadline)
            if outcome is not None:
                return outcome
        for _ in range(self.policy.max_resends + 1):
            reconciled = await self._reconcile(request)
            if isinstance(reconciled, Outcome):
                return reconciled
            sent = await self._sign_and_send(request, adapter, reconciled)
            if isinstance(sent, Outcome):
                return sent
            outcome = await self._track(request, sent, deadline)
            if outcome is not None:
                return outcome
        raise FulfilmentPending(f"request {key}: {self.policy.max_resends + 1} transactions expired")

    # --- chain state -----------------------------------------------------------------------------------

    async def _read(self, method: str, request_id: int) -> dict[str, Any]:
        reply = await self.rpc.invoke_script(call_script(self.gateway, method, [request_id]), [])
        if reply.get("state") != "HALT" or not reply.get("stack"):
            raise N3RpcError(method, 0, f"read of {method}({request_id}) FAULTed: {reply.get('exception')}")
        return dict(reply["stack"][0])

    async def _reconcile(self, request: N3Request) -> Outcome | N3StoredRequest:
        """The outcome the chain already decides (fulfilled, or unknown), or the stored pending request."""
        key = request.fulfilment_key
        fulfilled = await self._read("is_fulfilled", request.request_id)
        if fulfilled.get("value") not in (True, "1", 1):
            stored = await self._read("get_request", request.request_id)
            if stored.get("value"):
                return N3StoredRequest.from_stack(stored)
            detail = f"get_request({request.request_id}) is empty and the request is not fulfilled"
            row = await self.store.fail(key, REQUEST_NOT_ON_CHAIN, detail)
            return Outcome.of(row)
        evidence = await self._find_fulfilled(request)
        if evidence is None:  # fulfilled in state, but the block is beyond what we search
            row = await self.store.finish(key, FulfilmentStatus.CONFIRMED, tx_hash=None)
            return Outcome.of(row)
        return await self._confirm(request, evidence, await self.rpc.application_log(evidence[0]))

    async def _find_fulfilled(self, request: N3Request) -> tuple[str, int] | None:
        """(tx hash, block) of the ``Fulfilled`` notification of ``request``: ours first, else a scan."""
        row = await self.store.get(request.fulfilment_key)
        for tx_hash in reversed(row.tx_hashes):
            log = await self.rpc.application_log(tx_hash)
            if log is not None and vm_state(log) == "HALT":
                return tx_hash, await self._height(tx_hash)
        head = await self.rpc.block_count() - 1
        last = min(head, request.block_index + MAX_EVIDENCE_BLOCKS)
        async for found in self._notifications.notifications(request.block_index, last, "Fulfilled"):
            items = found.notification.get("state", {}).get("value", [])
            if items and items[0].get("type") == "Integer" and int(items[0]["value"]) == request.request_id:
                return found.tx_hash, found.block_index
        return None

    async def _height(self, tx_hash: str) -> int:
        return int(await self.rpc.call("gettransactionheight", [tx_hash]))

    async def _confirm(
        self, request: N3Request, evidence: tuple[str, int], log: dict[str, Any] | None
    ) -> Outcome:
        tx_hash, block_index = evidence
        execution = (log or {}).get("executions", [{}])[0]
        row = await self.store.confirm(
            request.fulfilment_key,
            self._landed(execution, request.request_id),
            tx_hash=tx_hash,
            block_number=block_index,
            gas_used=int(execution["gasconsumed"]) if "gasconsumed" in execution else None,
            # A callback that FAULTs fails the whole fulfilment on N3: a HALTed one succeeded.
            callback_success=True,
        )
        return Outcome.of(row)

    def _landed(self, execution: dict[str, Any], request_id: int) -> bytes | None:
        """The result of the gateway's ``Fulfilled(request_id, result)`` notification in ``execution``."""
        for notification in execution.get("notifications", []):
            if notification.get("eventname") != "Fulfilled" or notification.get("contract") != self.gateway:
                continue
            items = notification.get("state", {}).get("value", [])
            if len(items) == 2 and items[0].get("type") == "Integer" and int(items[0]["value"]) == request_id:
                return base64.b64decode(items[1].get("value", ""))
        return None

    # --- sending ---------------------------------------------------------------------------------------

    async def _sign_and_send(
        self, request: N3Request, adapter: N3Adapter, stored: N3StoredRequest
    ) -> ChainFulfilment | Outcome:
        """Make the result, test-invoke, build, check the budget, sign, record, broadcast; an Outcome if
        the chain decides first or the request cannot pay for its fulfilment."""
        key = request.fulfilment_key
        magic = await self.rpc.magic()
        context = N3RequestContext(magic, self.gateway, request, stored)
        result, signature = await self.store.record_answer(key, lambda: self._answer(adapter, context))
        script = call_script(self.gateway, "fulfill", [request.request_id, result, signature])
        test = await self.relay.test(script)
        if test.get("state") != "HALT":
            exception = str(test.get("exception"))
            if _ALREADY_FULFILLED in exception:
                reconciled = await self._reconcile(request)
                if isinstance(reconciled, Outcome):
                    return reconciled
            reason = CALLBACK_GAS_EXCEEDED if _OUT_OF_GAS in exception.lower() else WOULD_FAULT
            row = await self.store.fail(key, reason, exception)
            return Outcome.of(row)
        tx = await self.relay.build(script, int(test["gasconsumed"]))
        if tx.system_fee + tx.network_fee > stored.paid:
            detail = (
                f"the fulfilment needs {tx.system_fee} + {tx.network_fee} datoshi (system + network fee), "
                f"the request paid {stored.paid}"
            )
            row = await self.store.fail(key, CALLBACK_GAS_EXCEEDED, detail)
            return Outcome.of(row)
        return await self.relay.send(key, tx)

    async def _answer(self, adapter: N3Adapter, context: N3RequestContext) -> tuple[bytes, bytes]:
        answer = await self.signer.fulfil(adapter, context)
        return answer.result, answer.signature

    async def _track(self, request: N3Request, row: ChainFulfilment, deadline: float) -> Outcome | None:
        """Wait for the application log of the row's transaction; None once it expired unseen."""
        found = await self.relay.wait(row, deadline, f"request {request.fulfilment_key}")
        if found is None:
            return None  # can no longer be included: rebuild
        return await self._settle(request, *found)

    async def _settle(self, request: N3Request, tx_hash: str, log: dict[str, Any]) -> Outcome:
        key = request.fulfilment_key
        if vm_state(log) == "HALT":
            return await self._confirm(request, (tx_hash, await self._height(tx_hash)), log)
        reconciled = await self._reconcile(request)  # someone else's fulfilment may have come first
        if isinstance(reconciled, Outcome):
            return reconciled
        execution = log["executions"][0]
        exception = str(execution.get("exception"))
        reason = CALLBACK_GAS_EXCEEDED if _OUT_OF_GAS in exception.lower() else TX_FAULTED
        row = await self.store.fail(
            key,
            reason,
            exception,
            tx_hash=tx_hash,
            block_number=await self._height(tx_hash),
            gas_used=int(execution["gasconsumed"]),
        )
        return Outcome.of(row)

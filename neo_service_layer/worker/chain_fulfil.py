"""The ``chains.evm.request`` job: fulfil one request the chain watcher found (``chains.evm.fulfiller``).

This module wires the fulfiller to its dependencies: the node (``settings.evm.rpc_url``), the database,
and the enclave, through :class:`EnclaveFulfilmentSigner` — the request's service's enclave op makes
and signs the result (``chains/onchain.py``; randomness proves with the version of the enclave's EVM
VRF key the request is pinned to; functions resolve the function and record its run in the database
around the op, ``services/functions/chain.py``) and the chain's relayer key signs the transaction
(``keys.evm_sign_tx``; wrapped outside the enclave). Job outcomes:

- ``confirmed`` → the job succeeds with the outcome as its result;
- ``failed`` (``service_not_supported_yet``, ``request_not_on_chain``, ``would_revert``,
  ``tx_reverted``) → :class:`PermanentJobError`: the job is dead at once, with the reason;
- not mined yet, node or enclave unavailable → an ordinary error: the queue retries with backoff, and
  the next attempt carries on from the recorded row.
"""

from __future__ import annotations

import asyncio
from typing import Any

from neo_service_layer.chains.evm.errors import InvalidChainMessage
from neo_service_layer.chains.evm.fulfiller import EvmFulfiller
from neo_service_layer.chains.evm.gateway_rpc import GatewayRpc
from neo_service_layer.chains.evm.relay import FulfilPolicy
from neo_service_layer.chains.evm.requests import ServiceRequest
from neo_service_layer.chains.evm.rpc import node_web3
from neo_service_layer.chains.fulfilments import FulfilmentStatus, FulfilmentStore, Outcome
from neo_service_layer.chains.onchain import (
    FUNCTIONS_HOST,
    EvmAdapter,
    EvmRequestContext,
    Fulfilment,
    HostSteps,
    make_fulfilment,
)
from neo_service_layer.config import Settings
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import EnclaveClient, UnixEnclaveClient
from neo_service_layer.services.functions.chain import EvmFunctionsHost
from neo_service_layer.services.keys.platform import EnclaveRelayerSigner
from neo_service_layer.worker.chain_watch import EVM_REQUEST_KIND
from neo_service_layer.worker.context import Handler, JobContext, PermanentJobError

__all__ = [
    "EVM_REQUEST_KIND",
    "EnclaveFulfilmentSigner",
    "chain_handlers",
    "chain_request_handler",
    "job_result",
]


class EnclaveFulfilmentSigner(EnclaveRelayerSigner):
    """:class:`FulfilmentSigner` over the enclave and the platform keys: the relayer's transactions
    (:class:`EnclaveRelayerSigner`) and the service ops' results."""

    def __init__(self, db: Database, enclave: EnclaveClient, chain_id: int) -> None:
        super().__init__(db, enclave, chain_id)
        self._ops = enclave
        # The hosted services' database steps (chains/onchain.py HostedAdapter).
        self._hosts: HostSteps[EvmRequestContext] = {FUNCTIONS_HOST: EvmFunctionsHost(db)}

    async def fulfil(self, adapter: EvmAdapter, context: EvmRequestContext) -> Fulfilment:
        return await make_fulfilment(self._ops, adapter, context, self._hosts)


def _request(ctx: JobContext) -> ServiceRequest:
    settings = ctx.settings
    if not settings.evm.rpc_url or not settings.evm.gateway_address:
        raise PermanentJobError(
            "chain_not_configured", "NSL_EVM_RPC_URL and NSL_EVM_GATEWAY_ADDRESS must be set"
        )
    try:
        return ServiceRequest.from_payload(ctx.job.payload)
    except InvalidChainMessage as e:
        raise PermanentJobError("invalid_chain_request", e.detail) from e


async def chain_request_handler(ctx: JobContext) -> dict[str, Any]:
    """Handler of ``chains.evm.request`` for the configured EVM gateway (module docstring)."""
    request = _request(ctx)
    assert ctx.settings.evm.rpc_url is not None
    assert ctx.settings.evm.gateway_address is not None
    rpc = GatewayRpc(node_web3(ctx.settings.evm.rpc_url), ctx.settings.evm.gateway_address)
    chain_id = await asyncio.to_thread(rpc.chain_id)
    if (request.chain_id, request.gateway) != (chain_id, rpc.gateway):
        raise PermanentJobError(
            "chain_not_configured",
            f"request of {request.gateway} on evm:{request.chain_id}, "
            f"configured {rpc.gateway} on evm:{chain_id}",
        )
    enclave = UnixEnclaveClient.from_settings(ctx.settings, pool_size=1)
    try:
        fulfiller = EvmFulfiller(
            rpc,
            FulfilmentStore(ctx.db, f"evm:{chain_id}"),
            EnclaveFulfilmentSigner(ctx.db, enclave, chain_id),
            chain_id=chain_id,
            policy=FulfilPolicy.from_settings(ctx.settings.evm),
        )
        outcome = await fulfiller.fulfil(request)
    finally:
        await enclave.close()
    return job_result(ctx, outcome, {"request_id": request.request_id.hex()})


def job_result(ctx: JobContext, outcome: Outcome, ids: dict[str, Any]) -> dict[str, Any]:
    """The result of a fulfilment job (EVM and N3) from its ``outcome``, after ``ids`` (what names the
    request): ``failed`` raises :class:`PermanentJobError` with its reason (module docstring)."""
    result = {**ids, **outcome.to_result()}
    if outcome.status is FulfilmentStatus.FAILED:
        ctx.log.warning("chain request failed", **result)
        raise PermanentJobError(outcome.reason or "failed", outcome.detail or "")
    ctx.log.info("chain request fulfilled", **result)
    return result


def chain_handlers(settings: Settings | None) -> dict[str, Handler]:
    """The fulfilment handler, when an EVM chain is configured."""
    if settings is None or not settings.evm.rpc_url or not settings.evm.gateway_address:
        return {}
    return {EVM_REQUEST_KIND: chain_request_handler}

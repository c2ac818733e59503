"""The ``chains.n3.request`` job: fulfil one request the N3 watcher found (``chains.neo_n3.fulfiller``).

Wires the fulfiller to the node (``settings.n3.rpc_url``), the database and the enclave through
:class:`N3EnclaveFulfilmentSigner`: the request's service's enclave op makes the result and signs it with
the enclave identity's secp256r1 key (``chains/onchain.py``; randomness proves with the version of the
enclave's N3 VRF key the request is pinned to; functions resolve the function and record its run in the
database around the op, ``services/functions/chain.py``) and the network's relayer key signs the transaction
(``keys.n3_sign_tx``; wrapped outside the enclave).
Timing comes from the ``n3_fulfil_*`` settings (:func:`n3_fulfil_policy`).
Outcomes as for EVM (worker/chain_fulfil.py): ``confirmed`` → success; ``failed``
(``service_not_supported_yet``, ``request_not_on_chain``, ``would_fault``, ``tx_faulted``) →
:class:`PermanentJobError`; not in a block yet, node or enclave unavailable → retried with backoff.
"""

from __future__ import annotations

from typing import Any

from neo_service_layer.chains.fulfilments import FulfilmentStore
from neo_service_layer.chains.neo_n3.errors import InvalidN3Message
from neo_service_layer.chains.neo_n3.fulfiller import N3Fulfiller, N3FulfilPolicy
from neo_service_layer.chains.neo_n3.requests import N3Request
from neo_service_layer.chains.neo_n3.rpc import N3Rpc
from neo_service_layer.chains.onchain import (
    FUNCTIONS_HOST,
    Fulfilment,
    HostSteps,
    N3Adapter,
    N3RequestContext,
    make_fulfilment,
)
from neo_service_layer.config import Settings
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import EnclaveClient, UnixEnclaveClient
from neo_service_layer.services.functions.chain import N3FunctionsHost
from neo_service_layer.services.keys.platform import N3EnclaveRelayerSigner
from neo_service_layer.worker.chain_fulfil import job_result
from neo_service_layer.worker.chain_watch import N3_REQUEST_KIND, n3_configured
from neo_service_layer.worker.context import Handler, JobContext, PermanentJobError

_RPC_TIMEOUT_SECONDS = 10


class N3EnclaveFulfilmentSigner(N3EnclaveRelayerSigner):
    """:class:`N3FulfilmentSigner` over the enclave and the platform keys (created on first use)."""

    def __init__(self, db: Database, enclave: EnclaveClient, network_magic: int) -> None:
        super().__init__(db, enclave, network_magic)
        # The hosted services' database steps (chains/onchain.py HostedAdapter).
        self._hosts: HostSteps[N3RequestContext] = {FUNCTIONS_HOST: N3FunctionsHost(db)}

    async def fulfil(self, adapter: N3Adapter, context: N3RequestContext) -> Fulfilment:
        return await make_fulfilment(self._enclave, adapter, context, self._hosts)


def n3_fulfil_policy(settings: Settings) -> N3FulfilPolicy:
    """The fulfiller's policy from the ``n3_fulfil_*`` settings (``NSL_N3_FULFIL_*``)."""
    return N3FulfilPolicy(
        valid_blocks=settings.n3.fulfil_valid_blocks,
        max_resends=settings.n3.fulfil_max_resends,
        poll_seconds=settings.n3.fulfil_poll_seconds,
        timeout_seconds=settings.n3.fulfil_timeout_seconds,
    )


def _request(ctx: JobContext) -> N3Request:
    if not n3_configured(ctx.settings):
        raise PermanentJobError("chain_not_configured", "NSL_N3_RPC_URL and NSL_N3_GATEWAY_HASH must be set")
    try:
        return N3Request.from_payload(ctx.job.payload)
    except InvalidN3Message as e:
        raise PermanentJobError("invalid_chain_request", e.detail) from e


async def n3_request_handler(ctx: JobContext) -> dict[str, Any]:
    """Handler of ``chains.n3.request`` for the configured N3 gateway (module docstring)."""
    request = _request(ctx)
    assert ctx.settings.n3.rpc_url is not None
    assert ctx.settings.n3.gateway_hash is not None
    gateway = ctx.settings.n3.gateway_hash.lower()
    gateway = gateway if gateway.startswith("0x") else f"0x{gateway}"
    async with N3Rpc(ctx.settings.n3.rpc_url, timeout=_RPC_TIMEOUT_SECONDS) as rpc:
        magic = await rpc.magic()
        if (request.network_magic, request.gateway) != (magic, gateway):
            raise PermanentJobError(
                "chain_not_configured",
                f"request of {request.gateway} on n3:{request.network_magic}, "
                f"configured {gateway} on n3:{magic}",
            )
        enclave = UnixEnclaveClient.from_settings(ctx.settings, pool_size=1)
        try:
            store = FulfilmentStore(ctx.db, request.chain)
            signer = N3EnclaveFulfilmentSigner(ctx.db, enclave, magic)
            fulfiller = N3Fulfiller(rpc, gateway, store, signer, policy=n3_fulfil_policy(ctx.settings))
            outcome = await fulfiller.fulfil(request)
        finally:
            await enclave.close()
    return job_result(ctx, outcome, {"request_id": request.request_id, "gateway": gateway})


def n3_chain_handlers(settings: Settings | None) -> dict[str, Handler]:
    """The N3 fulfilment handler, when an N3 gateway is configured."""
    return {N3_REQUEST_KIND: n3_request_handler} if n3_configured(settings) else {}

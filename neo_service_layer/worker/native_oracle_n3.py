"""The Neo N3 native oracle node's job: one pass over the OracleContract's pending requests per run.

With ``NSL_N3_NATIVE_ORACLE=true`` and ``NSL_N3_RPC_URL`` set, the scheduler enqueues
``chains.n3.native_oracle`` every ``settings.n3.poll_seconds`` (in one process of the fleet); a run
lists the pending requests and has the enclave answer those not already answered by a transaction in
the mempool (``chains.neo_n3.native_oracle.NativeOracleNode``). Nothing is stored: the chain's pending
set is the queue (a request leaves it when its response is persisted), so a failed or killed run is
simply the next run's work, and the job does not retry (``max_attempts=1``).
"""

from __future__ import annotations

from typing import Any

from neo_service_layer.chains.neo_n3.native_oracle import NativeOracleNode
from neo_service_layer.chains.neo_n3.rpc import N3Rpc
from neo_service_layer.config import Settings
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.worker.context import JobContext, PermanentJobError
from neo_service_layer.worker.scheduler import PeriodicTask

N3_NATIVE_ORACLE_KIND = "chains.n3.native_oracle"


def native_oracle_configured(settings: Settings | None) -> bool:
    """The native oracle node is on and has a node to talk to."""
    return settings is not None and settings.n3.native_oracle and bool(settings.n3.rpc_url)


async def n3_native_oracle_handler(ctx: JobContext) -> dict[str, Any]:
    """Handler of ``chains.n3.native_oracle`` (no payload): answer the pending native oracle requests."""
    if not native_oracle_configured(ctx.settings):
        raise PermanentJobError(
            "chain_not_configured", "NSL_N3_NATIVE_ORACLE and NSL_N3_RPC_URL must be set to serve it"
        )
    assert ctx.settings.n3.rpc_url is not None  # native_oracle_configured
    enclave = UnixEnclaveClient.from_settings(ctx.settings, pool_size=1)
    try:
        async with N3Rpc(ctx.settings.n3.rpc_url) as rpc:
            node = NativeOracleNode(rpc, enclave, peers=ctx.settings.n3.native_oracle_peers)
            served = await node.serve_pending()
    finally:
        await enclave.close()
    answers = [
        {
            "id": item.request.id,
            "code": None if item.response is None else item.response.code,
            "tx_hash": None if item.response is None else item.response.tx_hash,
            "sent": item.sent,
            "error": item.error,
        }
        for item in served
    ]
    if answers:
        ctx.log.info("native oracle requests answered", answers=answers)
    return {"answered": answers}


def native_oracle_tasks(settings: Settings) -> list[PeriodicTask]:
    """The periodic ``chains.n3.native_oracle`` when the native oracle node is on."""
    if not native_oracle_configured(settings):
        return []
    return [
        PeriodicTask(
            name="chains-n3-native-oracle",
            interval_seconds=settings.n3.poll_seconds,
            kind=N3_NATIVE_ORACLE_KIND,
            max_attempts=1,  # the next period is the retry
        )
    ]

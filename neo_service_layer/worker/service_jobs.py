"""The services' background jobs and their schedule, registered by ``nsl worker``.

The logic stays in each service (dependencies flow worker → services, never back); this module only
names the job kinds, wraps them as handlers and says how often the scheduler enqueues them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from neo_service_layer.chains.evm.gateway_rpc import GatewayRpc
from neo_service_layer.chains.evm.rpc import node_web3
from neo_service_layer.config import Settings
from neo_service_layer.db.base import utcnow
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.services.audit.anchors import EvmAnchor
from neo_service_layer.services.audit.checkpoints import CheckpointPolicy, checkpoint_if_due
from neo_service_layer.services.keys.purge import purge_deleted_keys
from neo_service_layer.worker.chain_fulfil import chain_handlers
from neo_service_layer.worker.chain_fulfil_n3 import n3_chain_handlers
from neo_service_layer.worker.chain_watch import (
    EVM_WATCH_KIND,
    N3_WATCH_KIND,
    chain_tasks,
    evm_watch_handler,
    n3_watch_handler,
)
from neo_service_layer.worker.context import Handler, JobContext, PermanentJobError
from neo_service_layer.worker.functions_jobs import functions_dead_hooks, functions_handlers
from neo_service_layer.worker.native_oracle_n3 import (
    N3_NATIVE_ORACLE_KIND,
    n3_native_oracle_handler,
    native_oracle_tasks,
)
from neo_service_layer.worker.pricefeed_jobs import (
    PollWiring,
    enclave_wiring,
    pricefeed_handlers,
    pricefeed_tasks,
)
from neo_service_layer.worker.queue import DeadHook
from neo_service_layer.worker.scheduler import PeriodicTask

KEYS_PURGE_KIND = "keys.purge"
DEFAULT_KEYS_PURGE_INTERVAL_SECONDS = 3600.0
AUDIT_CHECKPOINT_KIND = "audit.checkpoint"
AUDIT_ANCHOR_KIND = "audit.anchor"
#: How often the scheduler asks whether a checkpoint is due (at most; the interval if shorter).
AUDIT_CHECKPOINT_CHECK_SECONDS = 10.0


async def keys_purge_handler(ctx: JobContext) -> dict[str, Any]:
    """Handler of ``keys.purge`` (no payload): delete keys past their deletion date."""
    purged = await purge_deleted_keys(ctx.db, now=utcnow())
    ctx.log.info("purged deleted keys", keys=purged)
    return {"keys": purged}


async def audit_checkpoint_handler(ctx: JobContext) -> dict[str, Any]:
    """Handler of ``audit.checkpoint`` (no payload): have the enclave sign the audit chain's head if due."""
    enclave = UnixEnclaveClient.from_settings(ctx.settings, pool_size=1)
    try:
        created = await checkpoint_if_due(
            ctx.db, enclave, CheckpointPolicy.from_settings(ctx.settings), utcnow()
        )
    finally:
        await enclave.close()
    if created:
        ctx.log.info("audit log checkpointed", seq=created[-1].seq, checkpoints=len(created))
    return {"checkpoints": [row.seq for row in created]}


def audit_checkpoint_task(settings: Settings) -> PeriodicTask:
    """The periodic check of ``audit.checkpoint``: every 10 s, or the checkpoint interval if shorter."""
    return PeriodicTask(
        name="audit-checkpoint",
        interval_seconds=min(AUDIT_CHECKPOINT_CHECK_SECONDS, settings.audit.checkpoint_interval_seconds),
        kind=AUDIT_CHECKPOINT_KIND,
        max_attempts=1,  # the next check is the retry
    )


async def audit_anchor_handler(ctx: JobContext) -> dict[str, Any]:
    """Handler of ``audit.anchor`` (no payload): publish the newest checkpoint on the EVM gateway."""
    settings = ctx.settings
    if not settings.evm.rpc_url or not settings.evm.gateway_address:
        raise PermanentJobError(
            "chain_not_configured", "audit anchors need NSL_EVM_RPC_URL and NSL_EVM_GATEWAY_ADDRESS"
        )
    rpc = GatewayRpc(node_web3(settings.evm.rpc_url), settings.evm.gateway_address)
    enclave = UnixEnclaveClient.from_settings(settings, pool_size=1)
    try:
        run = await EvmAnchor(ctx.db, enclave, rpc, await asyncio.to_thread(rpc.chain_id)).run()
    finally:
        await enclave.close()
    if run.action != "nothing":
        ctx.log.info("audit anchor", action=run.action, seq=run.seq, tx_hash=run.tx_hash)
    return {"action": run.action, "seq": run.seq, "tx_hash": run.tx_hash}


def audit_anchor_tasks(settings: Settings) -> list[PeriodicTask]:
    """The periodic ``audit.anchor`` when anchoring is on and an EVM gateway is configured."""
    configured = settings.evm.rpc_url and settings.evm.gateway_address
    if settings.audit.anchor_interval_seconds <= 0 or not configured:
        return []
    task = PeriodicTask(
        name="audit-anchor",
        interval_seconds=settings.audit.anchor_interval_seconds,
        kind=AUDIT_ANCHOR_KIND,
        max_attempts=1,  # the next period is the retry
    )
    return [task]


def service_handlers(
    settings: Settings | None = None, pricefeed_wiring: PollWiring | None = enclave_wiring
) -> dict[str, Handler]:
    """Every service job handler, by kind; with ``settings``, the configured chains' fulfilment handlers;
    the price feed's polls observe and publish through ``pricefeed_wiring`` (None: no polls)."""
    return {
        **pricefeed_handlers(pricefeed_wiring),
        **functions_handlers(),
        KEYS_PURGE_KIND: keys_purge_handler,
        AUDIT_CHECKPOINT_KIND: audit_checkpoint_handler,
        AUDIT_ANCHOR_KIND: audit_anchor_handler,
        EVM_WATCH_KIND: evm_watch_handler,
        N3_WATCH_KIND: n3_watch_handler,
        N3_NATIVE_ORACLE_KIND: n3_native_oracle_handler,
        **chain_handlers(settings),
        **n3_chain_handlers(settings),
    }


def service_dead_hooks() -> dict[str, DeadHook]:
    """Every service job kind's dead hook (``worker.queue``): what ends with a job that went dead."""
    return {**functions_dead_hooks()}


def service_tasks(
    settings: Settings | None = None,
    keys_purge_interval_seconds: float = DEFAULT_KEYS_PURGE_INTERVAL_SECONDS,
) -> list[PeriodicTask]:
    """The periodic tasks: the keys purge, hourly; with ``settings``, the audit checkpoint check, the
    audit anchor (when on), the configured chains' watchers, the N3 native oracle node (when on) and the
    price feed tick (when on)."""
    purge = PeriodicTask(
        name="keys-purge", interval_seconds=keys_purge_interval_seconds, kind=KEYS_PURGE_KIND
    )
    if settings is None:
        return [purge]
    return [
        purge,
        audit_checkpoint_task(settings),
        *audit_anchor_tasks(settings),
        *chain_tasks(settings),
        *native_oracle_tasks(settings),
        *pricefeed_tasks(settings),
    ]

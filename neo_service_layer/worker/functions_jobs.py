"""The ``functions.run`` job: run one queued function run (``POST /v1/functions/{id}/runs``, async).

The logic is the service's (``services.functions.runner.run_queued``); this module binds it to the
enclave of the worker's settings. A payload without a run id, or a job without its account, can never
succeed: the job goes dead at once. A run whose job goes dead (every attempt failed, or the worker died
on the last one) is ended ``failed`` (``RunAbandoned``) with the job's death: never left ``running``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.services.functions.runner import abandon, run_queued
from neo_service_layer.services.functions.service import RUN_JOB_KIND
from neo_service_layer.worker.context import Handler, JobContext, PermanentJobError
from neo_service_layer.worker.queue import DeadHook, DeadJob


async def functions_run_handler(ctx: JobContext) -> dict[str, Any]:
    """Handler of ``functions.run`` (payload ``{"run_id"}``): run it in the enclave, record the outcome."""
    run_id, account_id = ctx.job.payload.get("run_id"), ctx.job.account_id
    if not isinstance(run_id, str) or account_id is None:
        raise PermanentJobError(
            "functions_run_payload_invalid", "functions.run needs a run_id and the job's account"
        )
    enclave = UnixEnclaveClient.from_settings(ctx.settings, pool_size=1)
    try:
        run = await run_queued(ctx.db, enclave, account_id, run_id)
    finally:
        await enclave.close()
    if run is None:
        return {"run_id": run_id, "status": "already_ended"}
    ctx.log.info("function run ended", run_id=run_id, status=run.status)
    return {"run_id": run_id, "status": run.status}


def functions_handlers() -> dict[str, Handler]:
    """The functions service's job handlers, by kind."""
    return {RUN_JOB_KIND: functions_run_handler}


async def functions_run_dead(session: AsyncSession, job: DeadJob) -> None:
    """Dead hook of ``functions.run``: the run ends ``failed`` (``RunAbandoned``) in the job's death."""
    run_id = job.payload.get("run_id")
    if isinstance(run_id, str) and job.account_id is not None:
        await abandon(session, job.account_id, run_id)


def functions_dead_hooks() -> dict[str, DeadHook]:
    """The functions service's dead hooks, by job kind."""
    return {RUN_JOB_KIND: functions_run_dead}

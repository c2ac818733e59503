"""The functions service's enclave calls: the syntax check at deploy, and runs (sync and by the worker).

A run holds no database transaction across the enclave call (the module docstring of ``service``):
the function, its version and the granted secrets' records are read in a short session, the enclave
runs, and the outcome is written in another. The host checks what it records: the envelope's
``request_hash`` must be the hash of the params it sent and the outcome must name its run, function,
version and source hash — an answer to another request is refused, not recorded.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.db.base import utcnow
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.canonical import request_hash
from neo_service_layer.enclave.client import EnclaveClient
from neo_service_layer.enclave.functions.runs import RunStatus
from neo_service_layer.enclave.opdefs.functions import (
    FUNCTIONS_CHECK,
    FUNCTIONS_RUN,
    CheckArgs,
    Limits,
    RunArgs,
    RunOutcome,
)
from neo_service_layer.enclave.opdefs.secrets import StoredVersion
from neo_service_layer.errors import EnclaveRejected, NSLError
from neo_service_layer.services.functions.errors import (
    FunctionArgsInvalid,
    FunctionSecretNotGranted,
    FunctionSyntaxError,
)
from neo_service_layer.services.functions.models import Function, FunctionRun, FunctionVersion
from neo_service_layer.services.functions.service import (
    QUEUED,
    RUNNING,
    SyntaxCheck,
    check_args,
    get_function,
    get_version,
    new_run,
)
from neo_service_layer.services.secrets.grants import granted_records
from neo_service_layer.services.secrets.models import GranteeKind


def syntax_check(enclave: EnclaveClient) -> SyntaxCheck:
    """The deploy-time check through ``functions.check``: FunctionSyntaxError with line and column."""

    async def check(source: str) -> None:
        result = await enclave.run(FUNCTIONS_CHECK, CheckArgs(source=source))
        if not result.ok:
            raise FunctionSyntaxError(
                f"line {result.line}, column {result.column}: {result.message}",
                line=result.line,
                column=result.column,
            )

    return check


async def granted_secrets(
    db: Database, account_id: str, function_id: str, names: list[str], opened: AsyncSession | None = None
) -> list[StoredVersion]:
    """The stored records of the secrets ``names``, each granted to the function (grantee: its id).

    In a read session of its own; a name without a grant is FunctionSecretNotGranted (nothing runs).
    """
    if not names:
        return []
    async with db.reading_beside(opened, account_id) as session:
        records = await granted_records(session, account_id, GranteeKind.FUNCTION, function_id)
    found = [record for record in records if record.name in names]
    missing = sorted(set(names) - {record.name for record in found})
    if missing:
        raise FunctionSecretNotGranted(
            f"secret {missing[0]} is not granted to function {function_id} "
            f"(POST /v1/secrets/{missing[0]}/grants with grantee_kind function and grantee {function_id})",
            secret=missing[0],
        )
    return found


async def prepare(
    db: Database, account_id: str, function_id: str, args: Any, mode: str, opened: AsyncSession | None = None
) -> tuple[FunctionRun, RunArgs]:
    """A new run of the function's current version and what to send for it, read and checked (the
    function is live, ``args`` match its schema, its secrets are granted) in short read sessions of
    their own — never in the request's write transaction, which on SQLite would hold the write lock
    for the whole run (module docstring); in ``opened``, the request's session, if it is already open
    (``Database.reading_beside``). Nothing is written."""
    async with db.reading_beside(opened, account_id) as session:
        function = await get_function(session, function_id)
        check_args(function, args)
        version = await get_version(session, function.id, function.version)
    secrets = await granted_secrets(db, account_id, function.id, list(function.secrets), opened)
    run = new_run(function, args, mode)
    return run, run_args(function, version, run.id, args, secrets)


def run_args(
    function: Function, version: FunctionVersion, run_id: str, args: Any, secrets: list[StoredVersion]
) -> RunArgs:
    """The enclave op's args for one run of ``version``; FunctionArgsInvalid when ``args`` have no
    canonical JSON form (what the signed args hash needs)."""
    try:
        return RunArgs(
            account_id=function.account_id,
            function_id=function.id,
            version=version.version,
            run_id=run_id,
            source=version.source,
            args=args,
            limits=Limits(**function.limits),
            allowed_domains=function.allowed_domains,
            secrets=secrets,
        )
    except ValidationError as exc:
        raise FunctionArgsInvalid(f"args: {exc.errors()[0]['msg']}"[:500]) from exc


async def execute(enclave: EnclaveClient, sent: RunArgs) -> dict[str, Any]:
    """Run ``sent`` in the enclave; the checked, signed outcome as the run's column values."""
    source_sha256 = hashlib.sha256(sent.source.encode()).hexdigest()
    signed = await enclave.run(FUNCTIONS_RUN, sent)
    outcome, expected = signed.result, request_hash(FUNCTIONS_RUN.name, sent.account_id, sent.params()).hex()
    if (
        signed.envelope.request_hash != expected
        or outcome.run_id != sent.run_id
        or outcome.function_id != sent.function_id
        or outcome.version != sent.version
        or outcome.source_sha256 != source_sha256
    ):
        raise EnclaveRejected("the enclave's function outcome is not for the run it was sent")
    return outcome_values(outcome, signed.envelope.model_dump(mode="json"))


def outcome_values(outcome: RunOutcome, envelope: dict[str, Any] | None) -> dict[str, Any]:
    """A run's column values from the enclave's outcome (``envelope``: the signed envelope of a
    ``functions.run``; None for a run a contract asked for, whose proof is the gateway signature)."""
    return {
        "status": outcome.status,
        "result": outcome.result,
        "error": None if outcome.error is None else outcome.error.model_dump(mode="json"),
        "logs": outcome.logs,
        "logs_truncated": outcome.logs_truncated,
        "fetches": outcome.fetches,
        "duration_ms": outcome.duration_ms,
        "memory_bytes": outcome.memory_bytes,
        "envelope": envelope,
        "finished_at": utcnow(),
    }


def settle(run: FunctionRun, values: dict[str, Any]) -> FunctionRun:
    """Write an outcome's values (from :func:`execute` or :func:`refused`) on ``run``."""
    for name, value in values.items():
        setattr(run, name, value)
    return run


def refused(error: NSLError) -> dict[str, Any]:
    """The values of a queued run that could not be sent (a secret no longer granted): ``failed``."""
    return {
        "status": RunStatus.FAILED.value,
        "error": {"name": error.code, "message": error.detail, "stack": ""},
        "finished_at": utcnow(),
    }


#: The error name of a run its job gave up on (module docstring of ``worker.queue``: dead hooks).
RUN_ABANDONED: Final = "RunAbandoned"


async def abandon(session: AsyncSession, account_id: str, run_id: str) -> None:
    """End the run ``run_id`` ``failed`` with error ``RunAbandoned`` if it has not ended (its job went
    dead: every attempt failed, or its worker died on the last one), in the caller's transaction —
    the job's death. The message says what to do, never why the host
    failed (the job's ``last_error`` keeps that for an operator)."""
    await session.execute(
        update(FunctionRun)
        .where(
            FunctionRun.id == run_id,
            FunctionRun.account_id == account_id,
            FunctionRun.status.in_((QUEUED, RUNNING)),
        )
        .values(
            status=RunStatus.FAILED.value,
            error={
                "name": RUN_ABANDONED,
                "message": "the service could not complete this run; run the function again",
                "stack": "",
            },
            finished_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )


async def run_queued(
    db: Database, enclave: EnclaveClient, account_id: str, run_id: str
) -> FunctionRun | None:
    """Run the queued run ``run_id`` (the ``functions.run`` job): mark it running, run it, settle it.

    Safe to repeat (delivery is at least once): a run already ended is left as it is (None), also when
    it ended while this attempt ran. A run the job left ``running`` (a worker died) runs again under the
    same id: nothing was recorded for it.
    """
    async with db.transaction(account_id) as session:
        run = (
            await session.execute(select(FunctionRun).where(FunctionRun.id == run_id))
        ).scalar_one_or_none()
        if run is None or run.status not in (QUEUED, RUNNING):
            return None
        function = (
            await session.execute(select(Function).where(Function.id == run.function_id))
        ).scalar_one()
        version = await get_version(session, function.id, run.version)
        run.status, run.started_at = RUNNING, utcnow()
        args = run.args
    # Outside the transaction (expire_on_commit is off: the rows read stay readable).
    try:
        secrets = await granted_secrets(db, account_id, function.id, list(function.secrets))
        sent: RunArgs | None = run_args(function, version, run_id, args, secrets)
        failure: dict[str, Any] = {}
    except NSLError as exc:
        sent, failure = None, refused(exc)
    values = failure if sent is None else await execute(enclave, sent)
    async with db.transaction(account_id) as session:
        run = (await session.execute(select(FunctionRun).where(FunctionRun.id == run_id))).scalar_one()
        # An ended run stays as it ended: the job may have been given up on meanwhile (``abandon``).
        return settle(run, values) if run.status == RUNNING else None

"""The functions service: deploy, version, delete and read functions; record their runs.

The enclave calls (syntax check, run) come in as callables (:data:`SyntaxCheck`), so this module holds
the rules and the records only; ``services.functions.enclave_ops`` binds them to the enclave's ops.
A run never holds a database transaction across the enclave call (as the oracle: on SQLite a write
transaction holds the one write lock): its row is written first, settled after.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import jsonschema_rs
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import Job, JobStatus
from neo_service_layer.enclave.functions.limits import OPERATOR_MAXIMUMS, RunLimits
from neo_service_layer.ids import IdPrefix, new_id
from neo_service_layer.services.functions.consumers import normalise_consumers
from neo_service_layer.services.functions.errors import (
    FunctionArgsInvalid,
    FunctionArgsSchemaInvalid,
    FunctionNameTaken,
    FunctionNotFound,
    FunctionRunNotFound,
    FunctionSecretNotFound,
    FunctionSourceTooLarge,
)
from neo_service_layer.services.functions.models import (
    API_TRIGGER,
    CHAIN_TRIGGER,
    Function,
    FunctionRun,
    FunctionVersion,
)
from neo_service_layer.services.secrets.models import Secret

#: The largest source accepted, in UTF-8 bytes.
MAX_SOURCE_BYTES: Final = 256 * 1024
#: Checks a source's syntax, raising ``FunctionSyntaxError`` (with line and column) if it is not valid.
SyntaxCheck = Callable[[str], Awaitable[None]]
#: A run's status before it ends (then a ``RunStatus``).
QUEUED: Final = "queued"
RUNNING: Final = "running"
#: The job kind of an async run (payload: ``run_id``; the job's account is the run's).
RUN_JOB_KIND: Final = "functions.run"


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """What a deploy or an update sets (None: unchanged on update, the default on deploy)."""

    name: str | None = None
    source: str | None = None
    limits: dict[str, int] | None = None
    allowed_domains: list[str] | None = None
    secrets: list[str] | None = None
    args_schema: dict[str, Any] | None = None
    onchain_consumers: list[str] | None = None


def source_sha256(source: str) -> str:
    """The hex SHA-256 of the source's UTF-8 bytes (what a run's signature covers)."""
    return hashlib.sha256(source.encode()).hexdigest()


def checked_limits(given: dict[str, int] | None) -> RunLimits:
    """The run limits ``given`` (defaults for the rest), each at most the operator's maximum."""
    return RunLimits(**(given or {})).within(OPERATOR_MAXIMUMS)


def check_args_schema(schema: dict[str, Any] | None) -> None:
    """FunctionArgsSchemaInvalid unless ``schema`` is None or a valid JSON Schema (its own metaschema)."""
    if schema is None:
        return
    try:
        jsonschema_rs.meta.validate(schema)
        _validator(schema)
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as exc:
        raise FunctionArgsSchemaInvalid(f"args_schema: {getattr(exc, 'message', exc)}"[:500]) from exc


def _validator(schema: dict[str, Any]) -> jsonschema_rs.Validator:
    # offline: a $ref to a URL is never fetched (that would be a fetch from the host, past the safe
    # fetcher); such a schema is refused at deploy.
    return jsonschema_rs.validator_for(schema, offline=True)


def check_args(function: Function, args: Any) -> None:
    """FunctionArgsInvalid unless ``args`` match the function's schema (none: anything JSON)."""
    if function.args_schema is None:
        return
    error = next(iter(_validator(function.args_schema).iter_errors(args)), None)
    if error is not None:
        where = "/".join(str(part) for part in error.instance_path)
        raise FunctionArgsInvalid(f"args/{where}: {error.message}"[:500], path=where)


async def _check_source(source: str, check: SyntaxCheck) -> str:
    if len(source.encode()) > MAX_SOURCE_BYTES:
        raise FunctionSourceTooLarge(f"the source is over {MAX_SOURCE_BYTES} bytes", limit=MAX_SOURCE_BYTES)
    await check(source)
    return source_sha256(source)


async def check_secrets_exist(session: AsyncSession, names: list[str] | None) -> None:
    """FunctionSecretNotFound unless every secret ``names`` names is a secret of the session's account.

    Deploy and PATCH check that the names exist; whether each is granted to the function is checked
    at every run (``runner.granted_secrets``), as Vault checks a policy at each read and Chainlink
    Functions a request's secrets at each request: at deploy the function has no id to grant to yet,
    and a grant can be revoked at any time after (docs/functions.md §8 "Secrets at deploy").
    Run after the source check, so no transaction is begun across the enclave call.
    """
    wanted = set(names or [])
    if not wanted:
        return
    found = set((await session.execute(select(Secret.name).where(Secret.name.in_(sorted(wanted))))).scalars())
    missing = sorted(wanted - found)
    if missing:
        raise FunctionSecretNotFound(
            f"the account has no secret {missing[0]} (PUT /v1/secrets/{missing[0]} first)", secret=missing[0]
        )


async def _flush_named(session: AsyncSession, name: str) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise FunctionNameTaken(f"a function named {name} exists", name=name) from exc


async def deploy(
    session: AsyncSession, account_id: str, spec: FunctionSpec, check: SyntaxCheck
) -> tuple[Function, FunctionVersion]:
    """A new function at version 1 (in the caller's transaction), after every check passed."""
    assert spec.name is not None  # the body requires it
    assert spec.source is not None
    limits = checked_limits(spec.limits)
    check_args_schema(spec.args_schema)
    consumers = normalise_consumers(spec.onchain_consumers or [])
    digest = await _check_source(spec.source, check)
    await check_secrets_exist(session, spec.secrets)
    function = Function(
        id=new_id(IdPrefix.FUNCTION),
        account_id=account_id,
        name=spec.name,
        live_name=spec.name,
        version=1,
        limits=limits.to_wire(),
        allowed_domains=sorted(set(spec.allowed_domains or [])),
        secrets=sorted(set(spec.secrets or [])),
        args_schema=spec.args_schema,
        onchain_consumers=consumers,
    )
    version = FunctionVersion(
        function_id=function.id, account_id=account_id, version=1, source=spec.source, source_sha256=digest
    )
    session.add_all([function, version])
    await _flush_named(session, spec.name)
    return function, version


async def update(
    session: AsyncSession, function: Function, spec: FunctionSpec, check: SyntaxCheck
) -> Function:
    """Apply ``spec``'s set fields; a new source is a new version (the old ones stay)."""
    limits = checked_limits(spec.limits) if spec.limits is not None else None
    check_args_schema(spec.args_schema)
    consumers = None if spec.onchain_consumers is None else normalise_consumers(spec.onchain_consumers)
    if spec.source is not None:
        digest = await _check_source(spec.source, check)
        function.version += 1
        session.add(
            FunctionVersion(
                function_id=function.id,
                account_id=function.account_id,
                version=function.version,
                source=spec.source,
                source_sha256=digest,
            )
        )
    await check_secrets_exist(session, spec.secrets)
    if spec.name is not None:
        function.name = function.live_name = spec.name
    if limits is not None:
        function.limits = limits.to_wire()
    if spec.allowed_domains is not None:
        function.allowed_domains = sorted(set(spec.allowed_domains))
    if spec.secrets is not None:
        function.secrets = sorted(set(spec.secrets))
    if spec.args_schema is not None:
        function.args_schema = spec.args_schema
    if consumers is not None:
        function.onchain_consumers = consumers
    function.updated_at = utcnow()
    await _flush_named(session, function.name)
    return function


async def delete(session: AsyncSession, function: Function) -> None:
    """Mark the function deleted (its name is free again; its versions and runs stay readable)."""
    function.deleted_at = utcnow()
    function.live_name = None
    await session.flush()


async def get_function(session: AsyncSession, function_id: str) -> Function:
    """The live function ``function_id`` of the session's account; FunctionNotFound otherwise."""
    function = (
        await session.execute(
            select(Function).where(Function.id == function_id, Function.deleted_at.is_(None))
        )
    ).scalar_one_or_none()
    if function is None:
        raise FunctionNotFound(f"no function {function_id}", function_id=function_id)
    return function


async def get_any_function(session: AsyncSession, function_id: str) -> Function:
    """The function ``function_id`` of the session's account, deleted or not (its runs stay readable)."""
    function = (
        await session.execute(select(Function).where(Function.id == function_id))
    ).scalar_one_or_none()
    if function is None:
        raise FunctionNotFound(f"no function {function_id}", function_id=function_id)
    return function


async def get_version(session: AsyncSession, function_id: str, version: int) -> FunctionVersion:
    """One version of a function of the session's account."""
    found = (
        await session.execute(
            select(FunctionVersion).where(
                FunctionVersion.function_id == function_id, FunctionVersion.version == version
            )
        )
    ).scalar_one_or_none()
    if found is None:
        raise FunctionNotFound(f"no version {version} of function {function_id}", function_id=function_id)
    return found


async def get_run(session: AsyncSession, function_id: str, run_id: str) -> FunctionRun:
    """The run ``run_id`` of the function (session's account); FunctionRunNotFound otherwise."""
    run = (
        await session.execute(
            select(FunctionRun).where(FunctionRun.id == run_id, FunctionRun.function_id == function_id)
        )
    ).scalar_one_or_none()
    if run is None:
        raise FunctionRunNotFound(f"no run {run_id} of function {function_id}", run_id=run_id)
    return run


def list_statement() -> Select[Function]:
    """The account's live functions (the session adds the account filter)."""
    return select(Function).where(Function.deleted_at.is_(None))


def versions_statement(function_id: str) -> Select[FunctionVersion]:
    """The function's versions."""
    return select(FunctionVersion).where(FunctionVersion.function_id == function_id)


def runs_statement(function_id: str) -> Select[FunctionRun]:
    """The function's runs."""
    return select(FunctionRun).where(FunctionRun.function_id == function_id)


def new_run(
    function: Function,
    args: Any,
    mode: str,
    *,
    version: int | None = None,
    chain_request: str | None = None,
) -> FunctionRun:
    """A run row of ``version`` (default: the current one), ``running`` (sync) or ``queued`` (async);
    with ``chain_request``, a run a contract asked for through a gateway (trigger ``chain``)."""
    now = utcnow()
    return FunctionRun(
        id=new_id(IdPrefix.FUNCTION_RUN),
        account_id=function.account_id,
        function_id=function.id,
        version=function.version if version is None else version,
        status=RUNNING if mode == "sync" else QUEUED,
        mode=mode,
        trigger=API_TRIGGER if chain_request is None else CHAIN_TRIGGER,
        chain_request=chain_request,
        args=args,
        logs="",
        logs_truncated=False,
        fetches=0,
        created_at=now,
        started_at=now if mode == "sync" else None,
    )


async def queue_run(session: AsyncSession, run: FunctionRun, max_attempts: int) -> Job:
    """Record the queued ``run`` and its ``functions.run`` job in the caller's transaction.

    The job row is written here, not through ``worker.queue`` (the api and the worker are separate
    layers; both build on the services): a new run id needs none of the queue's idempotency-key logic.
    """
    now = utcnow()
    job = Job(
        id=new_id(IdPrefix.JOB),
        kind=RUN_JOB_KIND,
        payload={"run_id": run.id},
        status=JobStatus.QUEUED,
        run_at=now,
        attempts=0,
        max_attempts=max_attempts,
        account_id=run.account_id,
        created_at=now,
        updated_at=now,
    )
    session.add_all([run, job])
    await session.flush()
    return job

"""The functions service (``/v1/functions``): user JavaScript run in the enclave's sandbox, signed.

Thin routes: ``functions:write`` deploys, changes, deletes and runs; ``functions:read`` reads
functions, versions and runs. A deploy (and a PATCH with a new source) is checked in the enclave
(``functions.check``: a syntax error is 422 ``function_syntax_error`` with line and column). A run is
synchronous by default (the answer is the ended run) or ``"mode": "async"`` (202 and a ``queued`` run;
the ``functions.run`` job runs it). How a run ended (``failed``, ``timed_out``, …) is the run's
``status``, never an HTTP error. The audit chain keeps ids, names, versions and statuses — never
source, args, results or logs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response

from neo_service_layer.api.context import RequestContext, audit_resource
from neo_service_layer.api.guards import Requires, idempotent
from neo_service_layer.api.pagination import Page, PageDep, paginate
from neo_service_layer.api.routes import AUTHENTICATED, PathId, problems
from neo_service_layer.api.routes.functions_schemas import (
    FunctionIn,
    FunctionOut,
    FunctionPatch,
    RunIn,
    RunOut,
    VersionOut,
)
from neo_service_layer.services.accounts.scopes import READ, WRITE
from neo_service_layer.services.functions import runner, service
from neo_service_layer.services.functions.models import Function, FunctionRun, FunctionVersion

SERVICE = "functions"
PREFIX = "/v1/functions"
FunctionsRead = Annotated[RequestContext, Requires(SERVICE, READ)]
FunctionsWrite = Annotated[RequestContext, Requires(SERVICE, WRITE)]
router = APIRouter(prefix=PREFIX, tags=["functions"], responses=AUTHENTICATED)


def _audit(ctx: RequestContext, function: Function, suffix: str = "", **details: object) -> None:
    ctx.resource = audit_resource(f"{PREFIX}/{function.id}{suffix}")
    ctx.audit_details = {"function_id": function.id, "name": function.name, **details}


@router.post(
    "", status_code=201, response_model=FunctionOut, name="functions.create", responses=problems(409, 422)
)
@idempotent()
async def create_function(body: FunctionIn, ctx: FunctionsWrite) -> FunctionOut:
    """Deploy a function at version 1 (its source checked in the enclave first)."""
    function, _ = await service.deploy(
        ctx.session, ctx.principal.account_id, body.spec(), runner.syntax_check(ctx.state.enclave)
    )
    _audit(ctx, function, version=function.version)
    return FunctionOut.of(function)


@router.get("", name="functions.list")
async def list_functions(ctx: FunctionsRead, page: PageDep) -> Page[FunctionOut]:
    """The account's functions, oldest first (cursor pagination)."""
    return await paginate(ctx.session, service.list_statement(), Function.id, page, FunctionOut.of)


@router.get("/{function_id}", name="functions.get", responses=problems(404))
async def get_function(function_id: PathId, ctx: FunctionsRead) -> FunctionOut:
    """A function and its current version's settings."""
    function = await service.get_function(ctx.session, function_id)
    _audit(ctx, function)
    return FunctionOut.of(function)


@router.patch("/{function_id}", name="functions.update", responses=problems(404, 409, 422))
async def update_function(function_id: PathId, body: FunctionPatch, ctx: FunctionsWrite) -> FunctionOut:
    """Change a function; a new ``source`` is a new version (runs from then on use it)."""
    function = await service.get_function(ctx.session, function_id)
    spec = body.spec()
    await service.update(ctx.session, function, spec, runner.syntax_check(ctx.state.enclave))
    changed = sorted(name for name in body.model_fields_set)
    _audit(ctx, function, version=function.version, changed=changed)
    return FunctionOut.of(function)


@router.delete("/{function_id}", status_code=204, name="functions.delete", responses=problems(404))
async def delete_function(function_id: PathId, ctx: FunctionsWrite) -> Response:
    """Delete a function: it can no longer run and its name is free; its runs stay in the records."""
    function = await service.get_function(ctx.session, function_id)
    await service.delete(ctx.session, function)
    _audit(ctx, function)
    return Response(status_code=204)


@router.get("/{function_id}/versions", name="functions.versions", responses=problems(404))
async def list_versions(function_id: PathId, ctx: FunctionsRead, page: PageDep) -> Page[VersionOut]:
    """The function's versions with their sources, oldest first (cursor pagination)."""
    function = await service.get_function(ctx.session, function_id)
    _audit(ctx, function, "/versions")
    return await paginate(
        ctx.session, service.versions_statement(function.id), FunctionVersion.version, page, VersionOut.of
    )


@router.post(
    "/{function_id}/runs",
    response_model=RunOut,
    name="functions.run",
    # 202: an async run, queued; 409: an Idempotency-Key reused with another body.
    responses={202: {"model": RunOut, "description": "Queued (async)"}, **problems(404, 409, 422)},
)
@idempotent()
async def run_function(function_id: PathId, body: RunIn, ctx: FunctionsWrite) -> RunOut:
    """Run the function's current version with ``args``: the ended run (sync) or a queued one (async)."""
    account_id = ctx.principal.account_id
    run, sent = await runner.prepare(ctx.state.db, account_id, function_id, body.args, body.mode, ctx.opened)
    if body.mode == "async":
        await service.queue_run(ctx.session, run, ctx.state.settings.jobs.max_attempts)
        ctx.status_code = 202
    else:
        runner.settle(run, await runner.execute(ctx.state.enclave, sent))
        ctx.session.add(run)
        await ctx.session.flush()
    ctx.resource = audit_resource(f"{PREFIX}/{function_id}/runs/{run.id}")
    ctx.audit_details = {
        "function_id": function_id,
        "run_id": run.id,
        "version": run.version,
        "status": run.status,
    }
    return RunOut.of(run)


@router.get("/{function_id}/runs", name="functions.runs", responses=problems(404))
async def list_runs(function_id: PathId, ctx: FunctionsRead, page: PageDep) -> Page[RunOut]:
    """The function's runs, oldest first (cursor pagination); a deleted function's runs too."""
    await service.get_any_function(ctx.session, function_id)
    return await paginate(ctx.session, service.runs_statement(function_id), FunctionRun.id, page, RunOut.of)


@router.get("/{function_id}/runs/{run_id}", name="functions.run_get", responses=problems(404))
async def get_run(function_id: PathId, run_id: PathId, ctx: FunctionsRead) -> RunOut:
    """One run as it stands: ``queued``/``running``, or ended with its signed outcome."""
    run = await service.get_run(ctx.session, function_id, run_id)
    ctx.resource = audit_resource(f"{PREFIX}/{function_id}/runs/{run.id}")
    ctx.audit_details = {"function_id": function_id, "run_id": run.id, "status": run.status}
    return RunOut.of(run)

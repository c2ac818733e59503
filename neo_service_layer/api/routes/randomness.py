"""The randomness service (``/v1/randomness``): verifiable random outputs, stored results, verification.

Thin routes: each declares its scope (``randomness:write`` to generate, ``randomness:read`` to read
and verify) and whether it is idempotent (``api.guards``), checks the body
(``services.randomness.params``), calls ``services.randomness`` and shapes the response. Every request
is audited with the request id as the resource and β in the details, so the audit chain pins each
output; never key material.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from neo_service_layer.api.context import RequestContext, audit_resource
from neo_service_layer.api.guards import Requires, idempotent
from neo_service_layer.api.pagination import Page, PageDep, paginate
from neo_service_layer.api.routes import AUTHENTICATED, PathId, problems
from neo_service_layer.api.routes.randomness_schemas import (
    RandomnessBatchIn,
    RandomnessBatchOut,
    RandomnessIn,
    RandomnessOut,
    VerifyIn,
    VerifyOut,
)
from neo_service_layer.services.accounts.scopes import READ, WRITE
from neo_service_layer.services.randomness import service, verification
from neo_service_layer.services.randomness.models import RandomnessRequest

SERVICE = "randomness"
PREFIX = "/v1/randomness"
RandomnessRead = Annotated[RequestContext, Requires(SERVICE, READ)]
RandomnessWrite = Annotated[RequestContext, Requires(SERVICE, WRITE)]
router = APIRouter(prefix=PREFIX, tags=["randomness"], responses=AUTHENTICATED)
GENERATE_ERRORS = problems(404, 409, 422)


def _summary(record: RandomnessRequest) -> dict[str, object]:
    """What the audit log keeps of a result: ids, spec and β (public values only)."""
    return {
        "randomness_id": record.id,
        "scheme": record.scheme,
        "key_id": record.key_id,
        "key_version": record.key_version,
        "output_kind": record.output_kind,
        "count": record.output_count,
        "beta": record.beta.hex(),
    }


def _audit(ctx: RequestContext, resource_id: str, details: dict[str, object]) -> None:
    ctx.resource = audit_resource(f"{PREFIX}/{resource_id}")
    ctx.audit_details = details


@router.post(
    "", status_code=201, response_model=RandomnessOut, name="randomness.generate", responses=GENERATE_ERRORS
)
@idempotent()
async def generate(body: RandomnessIn, ctx: RandomnessWrite) -> RandomnessOut:
    """Prove a random output in the enclave; it is recorded before it is returned."""
    record = await service.generate(ctx.session, ctx.state.enclave, ctx.principal.account_id, body.params())
    _audit(ctx, record.id, _summary(record))
    return RandomnessOut.of(record)


@router.post(
    "/batch",
    status_code=201,
    response_model=RandomnessBatchOut,
    name="randomness.generate_batch",
    responses=GENERATE_ERRORS,
)
@idempotent()
async def generate_batch(body: RandomnessBatchIn, ctx: RandomnessWrite) -> RandomnessBatchOut:
    """Up to 100 requests, all or nothing (one failure records none of them)."""
    items = [item.params() for item in body.requests]
    batch_id, records = await service.generate_batch(
        ctx.session, ctx.state.enclave, ctx.principal.account_id, items
    )
    _audit(ctx, batch_id, {"batch_id": batch_id, "results": [_summary(r) for r in records]})
    return RandomnessBatchOut(batch_id=batch_id, results=[RandomnessOut.of(r) for r in records])


@router.post("/verify", name="randomness.verify")
async def verify(body: VerifyIn, ctx: RandomnessRead) -> VerifyOut:
    """Verify a proof (or a whole result) with a public key; an invalid proof is ``valid: false``."""
    checked = verification.verify(
        scheme=body.scheme, public_key=body.public_key, alpha=body.alpha, proof=body.proof, result=body.result
    )
    ctx.audit_details = {"valid": checked.valid, **({"reason": checked.reason} if checked.reason else {})}
    return VerifyOut(
        valid=checked.valid,
        output=checked.beta.hex() if checked.beta is not None else None,
        reason=checked.reason,
    )


@router.get("", name="randomness.list")
async def list_requests(ctx: RandomnessRead, page: PageDep) -> Page[RandomnessOut]:
    """The account's requests, oldest first (cursor pagination)."""
    return await paginate(ctx.session, service.list_statement(), RandomnessRequest.id, page, RandomnessOut.of)


@router.get("/{request_id}", name="randomness.get", responses=problems(404))
async def get_request(request_id: PathId, ctx: RandomnessRead) -> RandomnessOut:
    """A stored result, exactly as it was first returned."""
    record = await service.get_request(ctx.session, request_id)
    _audit(ctx, record.id, {"randomness_id": record.id})
    return RandomnessOut.of(record)

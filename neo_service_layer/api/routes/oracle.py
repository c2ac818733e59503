"""The oracle service (``/v1/oracle``): web data fetched, filtered and signed in the enclave.

Thin routes: ``oracle:write`` sends a request (``POST /requests``, recorded before it is returned;
an oracle outcome such as ``Forbidden`` is a 201 with that code, not an HTTP error), ``oracle:read``
reads records and runs the filter playground (``POST /filter``: the code the enclave runs, on a
document the caller gives). The audit chain keeps the request's hosts, code and request hash — never
a URL (its query may be someone's business) nor a header.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from neo_service_layer.api.context import RequestContext, audit_resource
from neo_service_layer.api.guards import Requires, idempotent
from neo_service_layer.api.pagination import Page, PageDep, paginate
from neo_service_layer.api.routes import AUTHENTICATED, PathId, problems
from neo_service_layer.api.routes.oracle_schemas import FilterIn, FilterOut, OracleRequestIn, OracleRequestOut
from neo_service_layer.config import Settings
from neo_service_layer.enclave.oracle.filter import FilterError
from neo_service_layer.enclave.oracle.query import select
from neo_service_layer.services.accounts.scopes import READ, WRITE
from neo_service_layer.services.oracle import service
from neo_service_layer.services.oracle.errors import OracleFilterInvalid
from neo_service_layer.services.oracle.models import OracleRequest
from neo_service_layer.services.oracle.params import Limits, check_filter

SERVICE = "oracle"
PREFIX = "/v1/oracle"
OracleRead = Annotated[RequestContext, Requires(SERVICE, READ)]
OracleWrite = Annotated[RequestContext, Requires(SERVICE, WRITE)]
router = APIRouter(prefix=PREFIX, tags=["oracle"], responses=AUTHENTICATED)


def limits(settings: Settings) -> Limits:
    """The operator's limits: the configured response size and timeout are each default and maximum."""
    timeout_ms = round(settings.oracle.timeout_seconds * 1000)
    size = settings.oracle.max_response_bytes
    return Limits(size, size, timeout_ms, timeout_ms)


def _summary(record: OracleRequest) -> dict[str, object]:
    """What the audit log keeps: id, code, hosts and the request hash (no URL, header or body)."""
    return {
        "oracle_request_id": record.id,
        "code": record.code,
        "hosts": [report["host"] for report in record.sources],
        "request_hash": record.request_hash,
    }


@router.post(
    "/requests",
    status_code=201,
    response_model=OracleRequestOut,
    name="oracle.request",
    # 409: an Idempotency-Key reused with another body.
    responses=problems(409, 422),
)
@idempotent()
async def create_request(body: OracleRequestIn, ctx: OracleWrite) -> OracleRequestOut:
    """Fetch, filter and agree in the enclave; the signed answer is recorded before it is returned."""
    params = body.params(limits(ctx.state.settings))
    record = await service.request(
        ctx.session, ctx.state.db, ctx.state.enclave, ctx.principal.account_id, params
    )
    ctx.resource = audit_resource(f"{PREFIX}/requests/{record.id}")
    ctx.audit_details = _summary(record)
    return OracleRequestOut.of(record)


@router.get("/requests", name="oracle.list")
async def list_requests(ctx: OracleRead, page: PageDep) -> Page[OracleRequestOut]:
    """The account's requests, oldest first (cursor pagination)."""
    return await paginate(ctx.session, service.list_statement(), OracleRequest.id, page, OracleRequestOut.of)


@router.get("/requests/{request_id}", name="oracle.get", responses=problems(404))
async def get_request(request_id: PathId, ctx: OracleRead) -> OracleRequestOut:
    """A stored request and its answer, exactly as first returned."""
    record = await service.get_request(ctx.session, request_id)
    ctx.resource = audit_resource(f"{PREFIX}/requests/{record.id}")
    ctx.audit_details = {"oracle_request_id": record.id}
    return OracleRequestOut.of(record)


@router.post("/filter", name="oracle.filter")
async def run_filter(body: FilterIn, ctx: OracleRead) -> FilterOut:
    """Run an N3 filter on a document: exactly what the oracle runs on a response (a playground)."""
    path = check_filter(body.filter, body.filter_syntax)
    try:
        output = select(body.document_bytes(), body.filter_syntax, path)
    except FilterError as exc:
        raise OracleFilterInvalid(exc.detail) from exc
    ctx.audit_details = {"filter_bytes": len(output)}
    return FilterOut(result=output.decode())

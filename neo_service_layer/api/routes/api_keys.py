"""The account's API keys (``/v1/api-keys``): create, list, get, rotate, revoke."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from neo_service_layer.api.context import TenantCtx
from neo_service_layer.api.idempotency import IdempotencyDep
from neo_service_layer.api.pagination import Page, PageDep, paginate
from neo_service_layer.api.routes import AUTHENTICATED, ResourceId, problems
from neo_service_layer.api.routes.schemas import ApiKeyCreated, ApiKeyIn, ApiKeyOut, RotateIn
from neo_service_layer.db.models import ApiKey
from neo_service_layer.services.accounts import api_keys
from neo_service_layer.services.accounts.scopes import READ, WRITE

SERVICE = "account"
SHOWN_ONCE = frozenset({"secret"})
router = APIRouter(prefix="/v1/api-keys", tags=["api-keys"], responses=AUTHENTICATED)


@router.post(
    "", status_code=201, response_model=ApiKeyCreated, name="api_keys.create", responses=problems(409)
)
async def create_key(body: ApiKeyIn, ctx: TenantCtx, idem: IdempotencyDep) -> object:
    """Create a key. The secret is in this response only; store it now."""
    ctx.principal.require(SERVICE, WRITE)
    if (replay := await idem.replay(ctx)) is not None:
        return replay
    issued = await api_keys.issue_for(
        ctx.session,
        ctx.principal,
        account_id=ctx.principal.account_id,
        name=body.name,
        role=body.role,
        scopes=body.scopes,
        expires_at=body.expires_at,
    )
    ctx.audit_details = {"key_id": issued.record.id, "role": body.role.value, "scopes": issued.record.scopes}
    return await idem.respond(ctx, 201, ApiKeyCreated.issued(issued), never_store=SHOWN_ONCE)


@router.get("", name="api_keys.list")
async def list_keys(ctx: TenantCtx, page: PageDep) -> Page[ApiKeyOut]:
    ctx.principal.require(SERVICE, READ)
    return await paginate(ctx.session, api_keys.list_statement(), ApiKey.id, page, ApiKeyOut.of)


@router.get("/{key_id}", name="api_keys.get", responses=problems(404))
async def get_key(key_id: ResourceId, ctx: TenantCtx) -> ApiKeyOut:
    ctx.principal.require(SERVICE, READ)
    return ApiKeyOut.of(await api_keys.get_key(ctx.session, key_id))


@router.post(
    "/{key_id}/rotate",
    status_code=201,
    response_model=ApiKeyCreated,
    name="api_keys.rotate",
    responses=problems(404, 409),
)
async def rotate_key(key_id: ResourceId, body: RotateIn, ctx: TenantCtx, idem: IdempotencyDep) -> object:
    """Issue a successor key; the old one keeps working for ``overlap_seconds`` (default 24 h)."""
    ctx.principal.require(SERVICE, WRITE)
    if (replay := await idem.replay(ctx)) is not None:
        return replay
    overlap = body.overlap_seconds
    if overlap is None:
        overlap = ctx.state.settings.api_key_rotation_overlap_seconds
    issued = await api_keys.rotate_key(ctx.session, ctx.principal, key_id, timedelta(seconds=overlap))
    ctx.state.auth_cache.clear()
    ctx.audit_details = {"key_id": key_id, "successor": issued.record.id, "overlap_seconds": overlap}
    return await idem.respond(ctx, 201, ApiKeyCreated.issued(issued), never_store=SHOWN_ONCE)


@router.post("/{key_id}/revoke", name="api_keys.revoke", responses=problems(404))
async def revoke_key(key_id: ResourceId, ctx: TenantCtx) -> ApiKeyOut:
    """Revoke a key at once (idempotent)."""
    ctx.principal.require(SERVICE, WRITE)
    key = await api_keys.revoke_key(ctx.session, key_id, caller=ctx.principal)
    ctx.state.auth_cache.clear()
    return ApiKeyOut.of(key)

"""The account's API keys (``/v1/api-keys``): create, list, get, rotate, revoke."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from neo_service_layer.api.guards import idempotent
from neo_service_layer.api.pagination import Page, PageDep, paginate
from neo_service_layer.api.routes import AUTHENTICATED, PathId, problems
from neo_service_layer.api.routes.account import AccountRead, AccountWrite
from neo_service_layer.api.routes.schemas import ApiKeyCreated, ApiKeyIn, ApiKeyOut, RotateIn
from neo_service_layer.db.models import ApiKey
from neo_service_layer.services.accounts import api_keys

SHOWN_ONCE = frozenset({"secret"})
router = APIRouter(prefix="/v1/api-keys", tags=["api-keys"], responses=AUTHENTICATED)


@router.post(
    "", status_code=201, response_model=ApiKeyCreated, name="api_keys.create", responses=problems(409)
)
@idempotent(never_store=SHOWN_ONCE)
async def create_key(body: ApiKeyIn, ctx: AccountWrite) -> ApiKeyCreated:
    """Create a key. The secret is in this response only; store it now."""
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
    return ApiKeyCreated.issued(issued)


@router.get("", name="api_keys.list")
async def list_keys(ctx: AccountRead, page: PageDep) -> Page[ApiKeyOut]:
    return await paginate(ctx.session, api_keys.list_statement(), ApiKey.id, page, ApiKeyOut.of)


@router.get("/{key_id}", name="api_keys.get", responses=problems(404))
async def get_key(key_id: PathId, ctx: AccountRead) -> ApiKeyOut:
    return ApiKeyOut.of(await api_keys.get_key(ctx.session, key_id))


@router.post(
    "/{key_id}/rotate",
    status_code=201,
    response_model=ApiKeyCreated,
    name="api_keys.rotate",
    responses=problems(404, 409),
)
@idempotent(never_store=SHOWN_ONCE)
async def rotate_key(key_id: PathId, body: RotateIn, ctx: AccountWrite) -> ApiKeyCreated:
    """Issue a successor key; the old one keeps working for ``overlap_seconds`` (default 24 h)."""
    overlap = body.overlap_seconds
    if overlap is None:
        overlap = ctx.state.settings.api_key_rotation_overlap_seconds
    issued = await api_keys.rotate_key(ctx.session, ctx.principal, key_id, timedelta(seconds=overlap))
    ctx.state.auth_cache.clear()
    ctx.audit_details = {"key_id": key_id, "successor": issued.record.id, "overlap_seconds": overlap}
    return ApiKeyCreated.issued(issued)


@router.post("/{key_id}/revoke", name="api_keys.revoke", responses=problems(404))
async def revoke_key(key_id: PathId, ctx: AccountWrite) -> ApiKeyOut:
    """Revoke a key at once (idempotent)."""
    key = await api_keys.revoke_key(ctx.session, key_id, caller=ctx.principal)
    ctx.state.auth_cache.clear()
    return ApiKeyOut.of(key)

"""Platform administration (``/v1/admin``): accounts and their first keys. Admins only."""

from __future__ import annotations

from fastapi import APIRouter

from neo_service_layer.api.guards import AdminCtx, idempotent
from neo_service_layer.api.pagination import Page, PageDep, paginate
from neo_service_layer.api.routes import AUTHENTICATED, PathId, problems
from neo_service_layer.api.routes.schemas import (
    AccountIn,
    AccountOut,
    AccountPatch,
    ApiKeyCreated,
    ApiKeyIn,
)
from neo_service_layer.db.models import Account
from neo_service_layer.errors import Forbidden
from neo_service_layer.services.accounts import api_keys, service

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=AUTHENTICATED)


@router.post(
    "/accounts",
    status_code=201,
    response_model=AccountOut,
    name="admin.accounts.create",
    responses=problems(409),
)
@idempotent()
async def create_account(body: AccountIn, ctx: AdminCtx) -> AccountOut:
    """Create a tenant account."""
    account = await service.create_account(ctx.session, body.name)
    ctx.audit_details = {"account_id": account.id}
    return AccountOut.of(account)


@router.get("/accounts", name="admin.accounts.list")
async def list_accounts(ctx: AdminCtx, page: PageDep) -> Page[AccountOut]:
    """All accounts, oldest first."""
    return await paginate(ctx.session, service.account_list_statement(), Account.id, page, AccountOut.of)


@router.get("/accounts/{account_id}", name="admin.accounts.get", responses=problems(404))
async def get_account(account_id: PathId, ctx: AdminCtx) -> AccountOut:
    return AccountOut.of(await service.get_account(ctx.session, account_id))


@router.patch("/accounts/{account_id}", name="admin.accounts.update", responses=problems(404))
async def update_account(account_id: PathId, body: AccountPatch, ctx: AdminCtx) -> AccountOut:
    """Disable or re-enable an account; a disabled account's keys stop working."""
    account = await service.get_account(ctx.session, account_id)
    if account.is_system and body.disabled:
        raise Forbidden("the system account cannot be disabled")
    account.disabled = body.disabled
    ctx.state.auth_cache.clear()
    ctx.audit_details = {"disabled": body.disabled}
    return AccountOut.of(account)


@router.post(
    "/accounts/{account_id}/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    name="admin.api_keys.create",
    responses=problems(404, 409),
)
@idempotent(never_store=frozenset({"secret"}))
async def create_account_key(account_id: PathId, body: ApiKeyIn, ctx: AdminCtx) -> ApiKeyCreated:
    """Create an API key in any account (e.g. an owner key for a new tenant)."""
    await service.get_account(ctx.session, account_id)
    issued = await api_keys.issue_for(
        ctx.session,
        ctx.principal,
        account_id=account_id,
        name=body.name,
        role=body.role,
        scopes=body.scopes,
        expires_at=body.expires_at,
    )
    ctx.audit_details = {"key_id": issued.record.id, "role": body.role.value}
    return ApiKeyCreated.issued(issued)

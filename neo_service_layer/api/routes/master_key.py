"""The account master key (``/v1/account/master-key``): rotation, with every wrapped item rewrapped."""

from __future__ import annotations

from fastapi import APIRouter

from neo_service_layer.api.context import TenantCtx
from neo_service_layer.api.idempotency import IdempotencyDep
from neo_service_layer.api.routes import AUTHENTICATED, problems
from neo_service_layer.api.routes.secrets_schemas import MasterKeyRotated
from neo_service_layer.services.accounts.scopes import WRITE
from neo_service_layer.services.masterkeys.service import rotate
from neo_service_layer.services.masterkeys.sources import rewrap_sources

# Writes of the "account" service are for owners only (services.accounts.scopes).
SERVICE = "account"
router = APIRouter(prefix="/v1/account/master-key", tags=["account"], responses=AUTHENTICATED)


@router.post(
    "/rotate", response_model=MasterKeyRotated, name="account.master_key.rotate", responses=problems(409)
)
async def rotate_master_key(ctx: TenantCtx, idem: IdempotencyDep) -> object:
    """Create the next AMK version and rewrap every key version and secret data key under it, in the
    enclave (no value leaves it). Older AMK versions stay, so nothing written meanwhile is lost."""
    ctx.principal.require(SERVICE, WRITE)
    if (replay := await idem.replay(ctx)) is not None:
        return replay
    amk, moved = await rotate(ctx.session, ctx.state.enclave, ctx.principal.account_id, rewrap_sources())
    ctx.audit_details = {"amk_version": amk.version, "rewrapped": moved}
    return await idem.respond(ctx, 200, MasterKeyRotated(version=amk.version, rewrapped=moved))

"""The account master key (``/v1/account/master-key``): rotation, with every wrapped item rewrapped."""

from __future__ import annotations

from fastapi import APIRouter

from neo_service_layer.api.guards import idempotent
from neo_service_layer.api.routes import AUTHENTICATED, problems
from neo_service_layer.api.routes.account import AccountWrite
from neo_service_layer.api.routes.secrets_schemas import MasterKeyRotated
from neo_service_layer.services.masterkeys.service import rotate
from neo_service_layer.services.masterkeys.sources import rewrap_sources

router = APIRouter(prefix="/v1/account/master-key", tags=["account"], responses=AUTHENTICATED)


@router.post(
    "/rotate", response_model=MasterKeyRotated, name="account.master_key.rotate", responses=problems(409)
)
@idempotent()
async def rotate_master_key(ctx: AccountWrite) -> MasterKeyRotated:
    """Create the next AMK version and rewrap every key version and secret data key under it, in the
    enclave (no value leaves it). Older AMK versions stay, so nothing written meanwhile is lost."""
    amk, moved = await rotate(ctx.session, ctx.state.enclave, ctx.principal.account_id, rewrap_sources())
    ctx.audit_details = {"amk_version": amk.version, "rewrapped": moved}
    return MasterKeyRotated(version=amk.version, rewrapped=moved)

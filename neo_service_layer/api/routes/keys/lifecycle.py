"""Key lifecycle (``/v1/keys``): create, list, read, policy, rotation, enable/disable, scheduled deletion,
public-key export, sealed backup and restore."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Query

from neo_service_layer.api.guards import AuditDetails, audited, idempotent
from neo_service_layer.api.pagination import Page, PageDep, paginate
from neo_service_layer.api.routes import AUTHENTICATED, PathId, problems
from neo_service_layer.api.routes.keys.common import (
    KEY_ERRORS,
    OP_ERRORS,
    PREFIX,
    KeysRead,
    KeysWrite,
    on_version,
)
from neo_service_layer.api.routes.keys_schemas import (
    BackupOut,
    KeyCreateIn,
    KeyOut,
    KeyPatchIn,
    KeySummary,
    PublicKeyOut,
    RestoreIn,
    ScheduleDeletionIn,
)
from neo_service_layer.enclave.canonical import b64decode, b64encode
from neo_service_layer.services.keys import backup, service
from neo_service_layer.services.keys.models import Key
from neo_service_layer.services.keys.public import addresses, to_pem

if TYPE_CHECKING:  # routes name the session's type only; the queries live in the service
    from sqlalchemy.ext.asyncio import AsyncSession

router = APIRouter(prefix=PREFIX, tags=["keys"], responses=AUTHENTICATED)


def on_key(op: str, *, versioned: bool = False) -> AuditDetails[KeyOut]:
    """The audit details of ``op`` on a whole key (with its latest version when ``op`` made it)."""
    return lambda key: {"key_id": key.id, "op": op, **({"version": key.latest_version} if versioned else {})}


async def _key_out(session: AsyncSession, key: Key) -> KeyOut:
    return KeyOut.with_versions(key, list(await service.versions(session, key)))


@router.post("", status_code=201, response_model=KeyOut, name="keys.create", responses=problems(409))
@idempotent()
@audited(on_key("create", versioned=True))
async def create_key(body: KeyCreateIn, ctx: KeysWrite) -> KeyOut:
    """Create a key; its version 1 is generated inside the enclave."""
    key, _ = await service.create_key(
        ctx.session,
        ctx.state.enclave,
        ctx.principal.account_id,
        name=body.name,
        key_type=body.type,
        exportable=body.exportable,
        allowed=body.allowed_operations,
    )
    return await _key_out(ctx.session, key)


@router.get("", name="keys.list")
async def list_keys(ctx: KeysRead, page: PageDep) -> Page[KeySummary]:
    return await paginate(ctx.session, service.list_statement(), Key.id, page, KeySummary.of)


@router.post("/restore", status_code=201, response_model=KeyOut, name="keys.restore", responses=problems(409))
@idempotent()
@audited(on_key("restore", versioned=True))
async def restore_key(body: RestoreIn, ctx: KeysWrite) -> KeyOut:
    """Restore a key from a backup made in this account (same key id, versions and policy)."""
    key = await backup.restore(
        ctx.session, ctx.state.enclave, ctx.principal.account_id, b64decode(body.backup)
    )
    return await _key_out(ctx.session, key)


@router.get("/{key_id}", name="keys.get", responses=problems(404))
async def get_key(key_id: PathId, ctx: KeysRead) -> KeyOut:
    """The key's policy and versions, with public keys and chain addresses."""
    return await _key_out(ctx.session, await service.get_key(ctx.session, key_id, metadata_only=True))


@router.patch("/{key_id}", name="keys.update", responses=problems(404, 422))
@audited(on_key("update"))
async def update_key(key_id: PathId, body: KeyPatchIn, ctx: KeysWrite) -> KeyOut:
    """Change minimum versions, allowed operations or exportability."""
    key = await service.update_policy(
        ctx.session,
        key_id,
        min_decryption_version=body.min_decryption_version,
        min_encryption_version=body.min_encryption_version,
        allowed=body.allowed_operations,
        exportable=body.exportable,
    )
    return await _key_out(ctx.session, key)


@router.post(
    "/{key_id}/rotate", status_code=201, response_model=KeyOut, name="keys.rotate", responses=KEY_ERRORS
)
@idempotent()
@audited(on_key("rotate", versioned=True))
async def rotate_key(key_id: PathId, ctx: KeysWrite) -> KeyOut:
    """Add a new latest version; older versions keep decrypting and verifying."""
    await service.rotate(ctx.session, ctx.state.enclave, ctx.principal.account_id, key_id)
    return await _key_out(ctx.session, await service.get_key(ctx.session, key_id))


@router.post("/{key_id}/disable", name="keys.disable", responses=KEY_ERRORS)
@audited(on_key("disable"))
async def disable_key(key_id: PathId, ctx: KeysWrite) -> KeyOut:
    return await _key_out(ctx.session, await service.set_enabled(ctx.session, key_id, False))


@router.post("/{key_id}/enable", name="keys.enable", responses=KEY_ERRORS)
@audited(on_key("enable"))
async def enable_key(key_id: PathId, ctx: KeysWrite) -> KeyOut:
    return await _key_out(ctx.session, await service.set_enabled(ctx.session, key_id, True))


@router.post("/{key_id}/schedule-deletion", name="keys.schedule_deletion", responses=KEY_ERRORS)
async def schedule_deletion(key_id: PathId, ctx: KeysWrite, body: ScheduleDeletionIn | None = None) -> KeyOut:
    """Delete the key after 7-30 days (default 30); it refuses every operation meanwhile."""
    days = (body or ScheduleDeletionIn()).pending_days
    key = await service.schedule_deletion(ctx.session, key_id, days)
    ctx.audit_details = {"key_id": key_id, "op": "schedule_deletion", "pending_days": days}
    return await _key_out(ctx.session, key)


@router.post("/{key_id}/cancel-deletion", name="keys.cancel_deletion", responses=problems(404))
@audited(on_key("cancel_deletion"))
async def cancel_deletion(key_id: PathId, ctx: KeysWrite) -> KeyOut:
    """Cancel a scheduled deletion; the key comes back disabled (enable it to use it)."""
    return await _key_out(ctx.session, await service.cancel_deletion(ctx.session, key_id))


@router.get("/{key_id}/public-key", name="keys.public_key", responses=OP_ERRORS)
@audited(on_version("export_public_key"))
async def export_public_key(
    key_id: PathId,
    ctx: KeysRead,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    format: Annotated[Literal["hex", "pem"], Query()] = "hex",
) -> PublicKeyOut:
    """The public key of a version (default latest) as hex or PEM, with its chain addresses."""
    key, row = await backup.public_key(ctx.session, key_id, version)
    assert row.public_key is not None  # backup.public_key checks it
    derived = addresses(key.type, row.public_key)
    return PublicKeyOut(
        key_id=key.id,
        version=row.version,
        type=key.type,
        format=format,
        public_key=to_pem(key.type, row.public_key) if format == "pem" else row.public_key.hex(),
        n3_address=derived.n3_address,
        n3_script_hash=derived.n3_script_hash,
        evm_address=derived.evm_address,
    )


@router.post("/{key_id}/backup", name="keys.backup", responses=KEY_ERRORS)
async def backup_key(key_id: PathId, ctx: KeysWrite) -> BackupOut:
    """A sealed backup of every version (exportable keys only); restores only into this account."""
    blob = await backup.backup(ctx.session, ctx.state.enclave, ctx.principal.account_id, key_id)
    ctx.audit_details = {"key_id": key_id, "op": "backup"}
    return BackupOut(key_id=key_id, backup=b64encode(blob))

"""The keys service (``/v1/keys``): lifecycle, operations, export, backup and restore.

Thin routes: validate, check the scope (``keys:read`` for reads and verification, ``keys:write`` for
everything else: a viewer cannot sign), call ``services.keys``, shape the response. Audit details
name the key, operation and version, never data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Query

from neo_service_layer.api.context import RequestContext, TenantCtx
from neo_service_layer.api.idempotency import IdempotencyDep
from neo_service_layer.api.pagination import Page, PageDep, paginate
from neo_service_layer.api.routes import AUTHENTICATED, ResourceId, problems
from neo_service_layer.api.routes.keys_schemas import (
    BackupOut,
    CiphertextOut,
    DataKeyIn,
    DataKeyOut,
    DecryptIn,
    EncryptIn,
    EvmSignatureOut,
    EvmSignMessageIn,
    EvmSignTransactionIn,
    EvmSignTransactionOut,
    EvmSignTypedDataIn,
    HmacIn,
    HmacOut,
    HmacVerifyIn,
    KeyCreateIn,
    KeyOut,
    KeyPatchIn,
    KeySummary,
    NeoSignTransactionIn,
    NeoSignTransactionOut,
    PlaintextOut,
    PublicKeyOut,
    RestoreIn,
    ScheduleDeletionIn,
    SignIn,
    SignOut,
    ValidOut,
    VerifyIn,
)
from neo_service_layer.enclave.canonical import b64decode, b64encode
from neo_service_layer.enclave.client import Signed
from neo_service_layer.enclave.crypto.keytypes import KeyType
from neo_service_layer.enclave.opdefs.keys import CiphertextResult, EvmSignatureResult
from neo_service_layer.enclave.schemas import SignedResult
from neo_service_layer.services.accounts.scopes import READ, WRITE
from neo_service_layer.services.keys import backup, ciphertext, operations, service
from neo_service_layer.services.keys.models import Key
from neo_service_layer.services.keys.public import addresses, to_pem

if TYPE_CHECKING:  # routes name the session's type only; the queries live in the service
    from sqlalchemy.ext.asyncio import AsyncSession

SERVICE = "keys"
router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=AUTHENTICATED)
KEY_ERRORS = problems(404, 409)
OP_ERRORS = problems(404, 409, 422)


def _audit(ctx: RequestContext, key_id: str, op: str, version: int | None = None) -> None:
    ctx.audit_details = {"key_id": key_id, "op": op, **({"version": version} if version is not None else {})}


async def _key_out(session: AsyncSession, key: Key) -> KeyOut:
    return KeyOut.with_versions(key, list(await service.versions(session, key)))


# --- lifecycle ---


@router.post("", status_code=201, response_model=KeyOut, name="keys.create", responses=problems(409))
async def create_key(body: KeyCreateIn, ctx: TenantCtx, idem: IdempotencyDep) -> object:
    """Create a key; its version 1 is generated inside the enclave."""
    ctx.principal.require(SERVICE, WRITE)
    if (replay := await idem.replay(ctx)) is not None:
        return replay
    key, _ = await service.create_key(
        ctx.session,
        ctx.state.enclave,
        ctx.principal.account_id,
        name=body.name,
        key_type=body.type,
        exportable=body.exportable,
        allowed=body.allowed_operations,
    )
    _audit(ctx, key.id, "create", 1)
    return await idem.respond(ctx, 201, await _key_out(ctx.session, key))


@router.get("", name="keys.list")
async def list_keys(ctx: TenantCtx, page: PageDep) -> Page[KeySummary]:
    ctx.principal.require(SERVICE, READ)
    return await paginate(ctx.session, service.list_statement(), Key.id, page, KeySummary.of)


@router.post("/restore", status_code=201, response_model=KeyOut, name="keys.restore", responses=problems(409))
async def restore_key(body: RestoreIn, ctx: TenantCtx, idem: IdempotencyDep) -> object:
    """Restore a key from a backup made in this account (same key id, versions and policy)."""
    ctx.principal.require(SERVICE, WRITE)
    if (replay := await idem.replay(ctx)) is not None:
        return replay
    key = await backup.restore(
        ctx.session, ctx.state.enclave, ctx.principal.account_id, b64decode(body.backup)
    )
    _audit(ctx, key.id, "restore", key.latest_version)
    return await idem.respond(ctx, 201, await _key_out(ctx.session, key))


@router.get("/{key_id}", name="keys.get", responses=problems(404))
async def get_key(key_id: ResourceId, ctx: TenantCtx) -> KeyOut:
    """The key's policy and versions, with public keys and chain addresses."""
    ctx.principal.require(SERVICE, READ)
    return await _key_out(ctx.session, await service.get_key(ctx.session, key_id, metadata_only=True))


@router.patch("/{key_id}", name="keys.update", responses=problems(404, 422))
async def update_key(key_id: ResourceId, body: KeyPatchIn, ctx: TenantCtx) -> KeyOut:
    """Change minimum versions, allowed operations or exportability."""
    ctx.principal.require(SERVICE, WRITE)
    key = await service.update_policy(
        ctx.session,
        key_id,
        min_decryption_version=body.min_decryption_version,
        min_encryption_version=body.min_encryption_version,
        allowed=body.allowed_operations,
        exportable=body.exportable,
    )
    _audit(ctx, key_id, "update")
    return await _key_out(ctx.session, key)


@router.post(
    "/{key_id}/rotate", status_code=201, response_model=KeyOut, name="keys.rotate", responses=KEY_ERRORS
)
async def rotate_key(key_id: ResourceId, ctx: TenantCtx, idem: IdempotencyDep) -> object:
    """Add a new latest version; older versions keep decrypting and verifying."""
    ctx.principal.require(SERVICE, WRITE)
    if (replay := await idem.replay(ctx)) is not None:
        return replay
    version = await service.rotate(ctx.session, ctx.state.enclave, ctx.principal.account_id, key_id)
    _audit(ctx, key_id, "rotate", version.version)
    key = await service.get_key(ctx.session, key_id)
    return await idem.respond(ctx, 201, await _key_out(ctx.session, key))


@router.post("/{key_id}/disable", name="keys.disable", responses=KEY_ERRORS)
async def disable_key(key_id: ResourceId, ctx: TenantCtx) -> KeyOut:
    ctx.principal.require(SERVICE, WRITE)
    key = await service.set_enabled(ctx.session, key_id, False)
    _audit(ctx, key_id, "disable")
    return await _key_out(ctx.session, key)


@router.post("/{key_id}/enable", name="keys.enable", responses=KEY_ERRORS)
async def enable_key(key_id: ResourceId, ctx: TenantCtx) -> KeyOut:
    ctx.principal.require(SERVICE, WRITE)
    key = await service.set_enabled(ctx.session, key_id, True)
    _audit(ctx, key_id, "enable")
    return await _key_out(ctx.session, key)


@router.post("/{key_id}/schedule-deletion", name="keys.schedule_deletion", responses=KEY_ERRORS)
async def schedule_deletion(
    key_id: ResourceId, ctx: TenantCtx, body: ScheduleDeletionIn | None = None
) -> KeyOut:
    """Delete the key after 7-30 days (default 30); it refuses every operation meanwhile."""
    ctx.principal.require(SERVICE, WRITE)
    days = (body or ScheduleDeletionIn()).pending_days
    key = await service.schedule_deletion(ctx.session, key_id, days)
    ctx.audit_details = {"key_id": key_id, "op": "schedule_deletion", "pending_days": days}
    return await _key_out(ctx.session, key)


@router.post("/{key_id}/cancel-deletion", name="keys.cancel_deletion", responses=problems(404))
async def cancel_deletion(key_id: ResourceId, ctx: TenantCtx) -> KeyOut:
    """Cancel a scheduled deletion; the key comes back disabled (enable it to use it)."""
    ctx.principal.require(SERVICE, WRITE)
    key = await service.cancel_deletion(ctx.session, key_id)
    _audit(ctx, key_id, "cancel_deletion")
    return await _key_out(ctx.session, key)


@router.get("/{key_id}/public-key", name="keys.public_key", responses=OP_ERRORS)
async def export_public_key(
    key_id: ResourceId,
    ctx: TenantCtx,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    format: Annotated[Literal["hex", "pem"], Query()] = "hex",
) -> PublicKeyOut:
    """The public key of a version (default latest) as hex or PEM, with its chain addresses."""
    ctx.principal.require(SERVICE, READ)
    key, row = await backup.public_key(ctx.session, key_id, version)
    assert row.public_key is not None  # backup.public_key checks it
    key_type = KeyType(key.type)
    derived = addresses(key_type, row.public_key)
    _audit(ctx, key_id, "export_public_key", row.version)
    return PublicKeyOut(
        key_id=key.id,
        version=row.version,
        type=key_type,
        format=format,
        public_key=to_pem(key_type, row.public_key) if format == "pem" else row.public_key.hex(),
        n3_address=derived.n3_address,
        n3_script_hash=derived.n3_script_hash,
        evm_address=derived.evm_address,
    )


@router.post("/{key_id}/backup", name="keys.backup", responses=KEY_ERRORS)
async def backup_key(key_id: ResourceId, ctx: TenantCtx) -> BackupOut:
    """A sealed backup of every version (exportable keys only); restores only into this account."""
    ctx.principal.require(SERVICE, WRITE)
    blob = await backup.backup(ctx.session, ctx.state.enclave, ctx.principal.account_id, key_id)
    _audit(ctx, key_id, "backup")
    return BackupOut(key_id=key_id, backup=b64encode(blob))


# --- operations ---


@router.post("/{key_id}/sign", name="keys.sign", responses=OP_ERRORS)
async def sign(key_id: ResourceId, body: SignIn, ctx: TenantCtx) -> SignOut:
    """Sign a message (hashed with ``hash``) or a 32-byte digest: raw r||s, DER, or EVM r||s||v."""
    ctx.principal.require(SERVICE, WRITE)
    signed = await operations.sign(
        ctx.session,
        ctx.state.enclave,
        key_id,
        data=body.data,
        prehashed=body.digest is not None,
        hash_alg=body.hash,
        fmt=body.format,
        version=body.version,
    )
    result = signed.result
    _audit(ctx, key_id, "sign", result.version)
    return SignOut(
        key_id=key_id,
        version=result.version,
        signature=result.signature.hex(),
        public_key=result.public_key.hex(),
        hash=result.hash,
        format=result.format,
        envelope=signed.envelope,
    )


@router.post("/{key_id}/verify", name="keys.verify", responses=OP_ERRORS)
async def verify(key_id: ResourceId, body: VerifyIn, ctx: TenantCtx) -> ValidOut:
    """Verify a signature of a message or digest (default version: latest)."""
    ctx.principal.require(SERVICE, READ)
    signed = await operations.verify(
        ctx.session,
        ctx.state.enclave,
        key_id,
        data=body.data,
        prehashed=body.digest is not None,
        signature=bytes.fromhex(body.signature),
        hash_alg=body.hash,
        fmt=body.format,
        version=body.version,
    )
    _audit(ctx, key_id, "verify", signed.result.version)
    return ValidOut(
        key_id=key_id, version=signed.result.version, valid=signed.result.valid, envelope=signed.envelope
    )


@router.post("/{key_id}/encrypt", name="keys.encrypt", responses=OP_ERRORS)
async def encrypt(key_id: ResourceId, body: EncryptIn, ctx: TenantCtx) -> CiphertextOut:
    """AES-256-GCM with the encryption context as associated data; ``nsl:v<version>:<base64>``."""
    ctx.principal.require(SERVICE, WRITE)
    signed = await operations.encrypt(
        ctx.session,
        ctx.state.enclave,
        key_id,
        plaintext=b64decode(body.plaintext),
        context=b64decode(body.context),
        version=body.version,
    )
    return _ciphertext_out(ctx, key_id, "encrypt", signed)


def _ciphertext_out(
    ctx: RequestContext, key_id: str, op: str, signed: Signed[CiphertextResult]
) -> CiphertextOut:
    """The response of an op that produces a ciphertext (encrypt, rewrap), audited with its version."""
    result = signed.result
    _audit(ctx, key_id, op, result.version)
    return CiphertextOut(
        key_id=key_id,
        version=result.version,
        ciphertext=ciphertext.encode(result.version, result.ciphertext),
        envelope=signed.envelope,
    )


@router.post("/{key_id}/decrypt", name="keys.decrypt", responses=OP_ERRORS)
async def decrypt(key_id: ResourceId, body: DecryptIn, ctx: TenantCtx) -> PlaintextOut:
    """Decrypt with the version named in the ciphertext (refused below ``min_decryption_version``)."""
    ctx.principal.require(SERVICE, WRITE)
    signed = await operations.decrypt(
        ctx.session, ctx.state.enclave, key_id, text=body.ciphertext, context=b64decode(body.context)
    )
    result = signed.result
    _audit(ctx, key_id, "decrypt", result.version)
    return PlaintextOut(
        key_id=key_id, version=result.version, plaintext=b64encode(result.plaintext), envelope=signed.envelope
    )


@router.post("/{key_id}/rewrap", name="keys.rewrap", responses=OP_ERRORS)
async def rewrap(key_id: ResourceId, body: DecryptIn, ctx: TenantCtx) -> CiphertextOut:
    """Re-encrypt a ciphertext under the latest version; the plaintext never leaves the enclave."""
    ctx.principal.require(SERVICE, WRITE)
    signed = await operations.rewrap(
        ctx.session, ctx.state.enclave, key_id, text=body.ciphertext, context=b64decode(body.context)
    )
    return _ciphertext_out(ctx, key_id, "rewrap", signed)


@router.post("/{key_id}/datakey", name="keys.datakey", responses=OP_ERRORS)
async def datakey(key_id: ResourceId, body: DataKeyIn, ctx: TenantCtx) -> DataKeyOut:
    """A fresh AES-256 data key: its ciphertext under this key, and (mode plaintext) the key itself."""
    ctx.principal.require(SERVICE, WRITE)
    signed = await operations.datakey(
        ctx.session,
        ctx.state.enclave,
        key_id,
        context=b64decode(body.context),
        include_plaintext=body.mode == "plaintext",
        version=body.version,
    )
    result = signed.result
    _audit(ctx, key_id, "datakey", result.version)
    return DataKeyOut(
        key_id=key_id,
        version=result.version,
        ciphertext=ciphertext.encode(result.version, result.ciphertext),
        plaintext=b64encode(result.plaintext) if result.plaintext is not None else None,
        envelope=signed.envelope,
    )


@router.post("/{key_id}/hmac", name="keys.hmac", responses=OP_ERRORS)
async def hmac(key_id: ResourceId, body: HmacIn, ctx: TenantCtx) -> HmacOut:
    """HMAC-SHA256 of the data: ``nsl:v<version>:<base64>``."""
    ctx.principal.require(SERVICE, WRITE)
    signed = await operations.hmac(
        ctx.session, ctx.state.enclave, key_id, data=b64decode(body.data), version=body.version
    )
    result = signed.result
    _audit(ctx, key_id, "hmac", result.version)
    return HmacOut(
        key_id=key_id,
        version=result.version,
        hmac=ciphertext.encode(result.version, result.mac),
        envelope=signed.envelope,
    )


@router.post("/{key_id}/hmac/verify", name="keys.hmac_verify", responses=OP_ERRORS)
async def hmac_verify(key_id: ResourceId, body: HmacVerifyIn, ctx: TenantCtx) -> ValidOut:
    """Check an HMAC (constant-time) with the version it names."""
    ctx.principal.require(SERVICE, READ)
    signed = await operations.hmac_verify(
        ctx.session, ctx.state.enclave, key_id, data=b64decode(body.data), text=body.hmac
    )
    _audit(ctx, key_id, "hmac_verify", signed.result.version)
    return ValidOut(
        key_id=key_id, version=signed.result.version, valid=signed.result.valid, envelope=signed.envelope
    )


@router.post("/{key_id}/neo/sign-transaction", name="keys.neo_sign_transaction", responses=OP_ERRORS)
async def neo_sign_transaction(
    key_id: ResourceId, body: NeoSignTransactionIn, ctx: TenantCtx
) -> NeoSignTransactionOut:
    """The standard-account witness of a Neo N3 transaction (secp256r1 keys)."""
    ctx.principal.require(SERVICE, WRITE)
    signed = await operations.n3_sign_transaction(
        ctx.session,
        ctx.state.enclave,
        key_id,
        transaction=b64decode(body.transaction),
        network_magic=body.network_magic,
        version=body.version,
    )
    result = signed.result
    _audit(ctx, key_id, "neo_sign_transaction", result.version)
    return NeoSignTransactionOut(
        key_id=key_id,
        version=result.version,
        tx_hash=result.tx_hash,
        public_key=result.public_key.hex(),
        signature=result.signature.hex(),
        invocation_script=result.invocation_script.hex(),
        verification_script=result.verification_script.hex(),
        envelope=signed.envelope,
    )


@router.post("/{key_id}/evm/sign-transaction", name="keys.evm_sign_transaction", responses=OP_ERRORS)
async def evm_sign_transaction(
    key_id: ResourceId, body: EvmSignTransactionIn, ctx: TenantCtx
) -> EvmSignTransactionOut:
    """Sign an EIP-155 legacy or EIP-1559 transaction (secp256k1 keys); ready for eth_sendRawTransaction."""
    ctx.principal.require(SERVICE, WRITE)
    signed = await operations.evm_sign_transaction(
        ctx.session, ctx.state.enclave, key_id, transaction=body.transaction, version=body.version
    )
    result = signed.result
    _audit(ctx, key_id, "evm_sign_transaction", result.version)
    return EvmSignTransactionOut(
        key_id=key_id,
        version=result.version,
        address=result.address,
        raw_transaction="0x" + result.raw_transaction.hex(),
        tx_hash="0x" + result.tx_hash.hex(),
        envelope=signed.envelope,
    )


@router.post("/{key_id}/evm/sign-message", name="keys.evm_sign_message", responses=OP_ERRORS)
async def evm_sign_message(key_id: ResourceId, body: EvmSignMessageIn, ctx: TenantCtx) -> EvmSignatureOut:
    """EIP-191 ``personal_sign`` (secp256k1 keys): r||s||v with v in {27, 28}."""
    ctx.principal.require(SERVICE, WRITE)
    signed = await operations.evm_sign_message(
        ctx.session, ctx.state.enclave, key_id, message=b64decode(body.message), version=body.version
    )
    return _evm_signature(ctx, key_id, "evm_sign_message", signed.result, signed.envelope)


@router.post("/{key_id}/evm/sign-typed-data", name="keys.evm_sign_typed_data", responses=OP_ERRORS)
async def evm_sign_typed_data(
    key_id: ResourceId, body: EvmSignTypedDataIn, ctx: TenantCtx
) -> EvmSignatureOut:
    """EIP-712 signature of typed data (secp256k1 keys)."""
    ctx.principal.require(SERVICE, WRITE)
    signed = await operations.evm_sign_typed_data(
        ctx.session, ctx.state.enclave, key_id, typed_data=body.typed_data, version=body.version
    )
    return _evm_signature(ctx, key_id, "evm_sign_typed_data", signed.result, signed.envelope)


def _evm_signature(
    ctx: RequestContext, key_id: str, op: str, result: EvmSignatureResult, envelope: SignedResult
) -> EvmSignatureOut:
    _audit(ctx, key_id, op, result.version)
    return EvmSignatureOut(
        key_id=key_id,
        version=result.version,
        address=result.address,
        hash="0x" + result.hash.hex(),
        signature="0x" + result.signature.hex(),
        envelope=envelope,
    )

"""Cryptographic operations with a key (``/v1/keys/{key_id}/…``): sign and verify, encrypt, decrypt and
rewrap, data keys, HMAC. Each runs in the enclave and returns its signed result as ``envelope``."""

from __future__ import annotations

from fastapi import APIRouter

from neo_service_layer.api.guards import audited
from neo_service_layer.api.routes import AUTHENTICATED, PathId
from neo_service_layer.api.routes.keys.common import OP_ERRORS, PREFIX, KeysRead, KeysWrite, on_version
from neo_service_layer.api.routes.keys_schemas import (
    CiphertextOut,
    DataKeyIn,
    DataKeyOut,
    DecryptIn,
    EncryptIn,
    HmacIn,
    HmacOut,
    HmacVerifyIn,
    PlaintextOut,
    SignIn,
    SignOut,
    ValidOut,
    VerifyIn,
)
from neo_service_layer.enclave.canonical import b64decode, b64encode
from neo_service_layer.enclave.client import Signed
from neo_service_layer.enclave.opdefs.keys import CiphertextResult
from neo_service_layer.services.keys import ciphertext, operations

router = APIRouter(prefix=PREFIX, tags=["keys"], responses=AUTHENTICATED)


@router.post("/{key_id}/sign", name="keys.sign", responses=OP_ERRORS)
@audited(on_version("sign"))
async def sign(key_id: PathId, body: SignIn, ctx: KeysWrite) -> SignOut:
    """Sign a message (hashed with ``hash``) or a 32-byte digest: raw r||s, DER, or EVM r||s||v."""
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
@audited(on_version("verify"))
async def verify(key_id: PathId, body: VerifyIn, ctx: KeysRead) -> ValidOut:
    """Verify a signature of a message or digest (default version: latest)."""
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
    return ValidOut(
        key_id=key_id, version=signed.result.version, valid=signed.result.valid, envelope=signed.envelope
    )


@router.post("/{key_id}/encrypt", name="keys.encrypt", responses=OP_ERRORS)
@audited(on_version("encrypt"))
async def encrypt(key_id: PathId, body: EncryptIn, ctx: KeysWrite) -> CiphertextOut:
    """AES-256-GCM with the encryption context as associated data; ``nsl:v<version>:<base64>``."""
    signed = await operations.encrypt(
        ctx.session,
        ctx.state.enclave,
        key_id,
        plaintext=b64decode(body.plaintext),
        context=b64decode(body.context),
        version=body.version,
    )
    return _ciphertext_out(key_id, signed)


def _ciphertext_out(key_id: str, signed: Signed[CiphertextResult]) -> CiphertextOut:
    """The response of an op that produces a ciphertext (encrypt, rewrap)."""
    result = signed.result
    return CiphertextOut(
        key_id=key_id,
        version=result.version,
        ciphertext=ciphertext.encode(result.version, result.ciphertext),
        envelope=signed.envelope,
    )


@router.post("/{key_id}/decrypt", name="keys.decrypt", responses=OP_ERRORS)
@audited(on_version("decrypt"))
async def decrypt(key_id: PathId, body: DecryptIn, ctx: KeysWrite) -> PlaintextOut:
    """Decrypt with the version named in the ciphertext (refused below ``min_decryption_version``)."""
    signed = await operations.decrypt(
        ctx.session, ctx.state.enclave, key_id, text=body.ciphertext, context=b64decode(body.context)
    )
    result = signed.result
    return PlaintextOut(
        key_id=key_id, version=result.version, plaintext=b64encode(result.plaintext), envelope=signed.envelope
    )


@router.post("/{key_id}/rewrap", name="keys.rewrap", responses=OP_ERRORS)
@audited(on_version("rewrap"))
async def rewrap(key_id: PathId, body: DecryptIn, ctx: KeysWrite) -> CiphertextOut:
    """Re-encrypt a ciphertext under the latest version; the plaintext never leaves the enclave."""
    signed = await operations.rewrap(
        ctx.session, ctx.state.enclave, key_id, text=body.ciphertext, context=b64decode(body.context)
    )
    return _ciphertext_out(key_id, signed)


@router.post("/{key_id}/datakey", name="keys.datakey", responses=OP_ERRORS)
@audited(on_version("datakey"))
async def datakey(key_id: PathId, body: DataKeyIn, ctx: KeysWrite) -> DataKeyOut:
    """A fresh AES-256 data key: its ciphertext under this key, and (mode plaintext) the key itself."""
    signed = await operations.datakey(
        ctx.session,
        ctx.state.enclave,
        key_id,
        context=b64decode(body.context),
        include_plaintext=body.mode == "plaintext",
        version=body.version,
    )
    result = signed.result
    return DataKeyOut(
        key_id=key_id,
        version=result.version,
        ciphertext=ciphertext.encode(result.version, result.ciphertext),
        plaintext=b64encode(result.plaintext) if result.plaintext is not None else None,
        envelope=signed.envelope,
    )


@router.post("/{key_id}/hmac", name="keys.hmac", responses=OP_ERRORS)
@audited(on_version("hmac"))
async def hmac(key_id: PathId, body: HmacIn, ctx: KeysWrite) -> HmacOut:
    """HMAC-SHA256 of the data: ``nsl:v<version>:<base64>``."""
    signed = await operations.hmac(
        ctx.session, ctx.state.enclave, key_id, data=b64decode(body.data), version=body.version
    )
    result = signed.result
    return HmacOut(
        key_id=key_id,
        version=result.version,
        hmac=ciphertext.encode(result.version, result.mac),
        envelope=signed.envelope,
    )


@router.post("/{key_id}/hmac/verify", name="keys.hmac_verify", responses=OP_ERRORS)
@audited(on_version("hmac_verify"))
async def hmac_verify(key_id: PathId, body: HmacVerifyIn, ctx: KeysRead) -> ValidOut:
    """Check an HMAC (constant-time) with the version it names."""
    signed = await operations.hmac_verify(
        ctx.session, ctx.state.enclave, key_id, data=b64decode(body.data), text=body.hmac
    )
    return ValidOut(
        key_id=key_id, version=signed.result.version, valid=signed.result.valid, envelope=signed.envelope
    )

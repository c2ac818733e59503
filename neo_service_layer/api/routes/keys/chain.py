"""Chain signing with a key (``/v1/keys/{key_id}/neo|evm/…``): Neo N3 transaction witnesses (secp256r1),
EVM transactions, EIP-191 messages and EIP-712 typed data (secp256k1), each signed in the enclave."""

from __future__ import annotations

from fastapi import APIRouter

from neo_service_layer.api.guards import audited
from neo_service_layer.api.routes import AUTHENTICATED, PathId
from neo_service_layer.api.routes.keys.common import OP_ERRORS, PREFIX, KeysWrite, on_version
from neo_service_layer.api.routes.keys_schemas import (
    EvmSignatureOut,
    EvmSignMessageIn,
    EvmSignTransactionIn,
    EvmSignTransactionOut,
    EvmSignTypedDataIn,
    NeoSignTransactionIn,
    NeoSignTransactionOut,
)
from neo_service_layer.enclave.canonical import b64decode
from neo_service_layer.enclave.client import Signed
from neo_service_layer.enclave.opdefs.keys import EvmSignatureResult
from neo_service_layer.services.keys import operations

router = APIRouter(prefix=PREFIX, tags=["keys"], responses=AUTHENTICATED)


@router.post("/{key_id}/neo/sign-transaction", name="keys.neo_sign_transaction", responses=OP_ERRORS)
@audited(on_version("neo_sign_transaction"))
async def neo_sign_transaction(
    key_id: PathId, body: NeoSignTransactionIn, ctx: KeysWrite
) -> NeoSignTransactionOut:
    """The standard-account witness of a Neo N3 transaction (secp256r1 keys)."""
    signed = await operations.n3_sign_transaction(
        ctx.session,
        ctx.state.enclave,
        key_id,
        transaction=b64decode(body.transaction),
        network_magic=body.network_magic,
        version=body.version,
    )
    result = signed.result
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
@audited(on_version("evm_sign_transaction"))
async def evm_sign_transaction(
    key_id: PathId, body: EvmSignTransactionIn, ctx: KeysWrite
) -> EvmSignTransactionOut:
    """Sign an EIP-155 legacy or EIP-1559 transaction (secp256k1 keys); ready for eth_sendRawTransaction."""
    signed = await operations.evm_sign_transaction(
        ctx.session, ctx.state.enclave, key_id, transaction=body.transaction, version=body.version
    )
    result = signed.result
    return EvmSignTransactionOut(
        key_id=key_id,
        version=result.version,
        address=result.address,
        raw_transaction="0x" + result.raw_transaction.hex(),
        tx_hash="0x" + result.tx_hash.hex(),
        envelope=signed.envelope,
    )


@router.post("/{key_id}/evm/sign-message", name="keys.evm_sign_message", responses=OP_ERRORS)
@audited(on_version("evm_sign_message"))
async def evm_sign_message(key_id: PathId, body: EvmSignMessageIn, ctx: KeysWrite) -> EvmSignatureOut:
    """EIP-191 ``personal_sign`` (secp256k1 keys): r||s||v with v in {27, 28}."""
    signed = await operations.evm_sign_message(
        ctx.session, ctx.state.enclave, key_id, message=b64decode(body.message), version=body.version
    )
    return _evm_signature(key_id, signed)


@router.post("/{key_id}/evm/sign-typed-data", name="keys.evm_sign_typed_data", responses=OP_ERRORS)
@audited(on_version("evm_sign_typed_data"))
async def evm_sign_typed_data(key_id: PathId, body: EvmSignTypedDataIn, ctx: KeysWrite) -> EvmSignatureOut:
    """EIP-712 signature of typed data (secp256k1 keys)."""
    signed = await operations.evm_sign_typed_data(
        ctx.session, ctx.state.enclave, key_id, typed_data=body.typed_data, version=body.version
    )
    return _evm_signature(key_id, signed)


def _evm_signature(key_id: str, signed: Signed[EvmSignatureResult]) -> EvmSignatureOut:
    result = signed.result
    return EvmSignatureOut(
        key_id=key_id,
        version=result.version,
        address=result.address,
        hash="0x" + result.hash.hex(),
        signature="0x" + result.signature.hex(),
        envelope=signed.envelope,
    )

"""Signatures over a gateway fulfilment for the services without a VRF key (oracle, functions).

NSLGateway ``_digest`` (EVM) and nsl_gateway ``message_of`` (Neo N3) rebuild what the enclave signs
from the request they stored: chain or network, gateway, request id, the payload's hash, the VRF key
version and key hash, and the result. A service without a VRF key signs version 0 and a zero key hash
(docs/chains-evm.md, docs/chains-neo-n3.md "Fulfilment"). The payload hash is computed HERE from the
payload the host handed in — keccak256 on EVM, SHA-256 on N3, as the gateways store it —, so a host
that lies about the payload gets a signature over another hash, which the gateway refuses.
"""

from __future__ import annotations

import hashlib
from typing import Final

from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.crypto import evm_gateway, n3_gateway
from neo_service_layer.enclave.crypto.hashing import keccak256

#: Services without a VRF key sign version 0 and a zero key hash.
NO_KEY_VERSION: Final = 0


def evm_fulfilment_signature(
    ctx: EnclaveContext, chain_id: int, gateway: str, request_id: bytes, payload: bytes, result: bytes
) -> bytes:
    """The identity's secp256k1 signature over NSLGateway's fulfilment digest of ``result`` for the
    request with ``payload`` (``gateway``: ``0x`` + 40 hex); what EnclaveSignature.sol recovers."""
    preimage = evm_gateway.fulfilment_preimage(
        chain_id,
        bytes.fromhex(gateway[2:]),
        request_id,
        payload_hash=keccak256(payload),
        vrf_key_version=NO_KEY_VERSION,
        vrf_key_hash=evm_gateway.NO_VRF_KEY,
        result=result,
    )
    return ctx.sign(preimage).k1  # secp256k1 over keccak256(preimage)


def n3_fulfilment_signature(
    ctx: EnclaveContext, network_magic: int, gateway: str, request_id: int, payload: bytes, result: bytes
) -> bytes:
    """The identity's P-256 signature over nsl_gateway's fulfilment message of ``result`` for the
    request with ``payload`` (``gateway``: ``0x`` + big-endian script hash); what
    CryptoLib.verifyWithECDsa checks."""
    message = n3_gateway.fulfilment_message(
        network_magic,
        bytes.fromhex(gateway[2:])[::-1],  # display form (big-endian) -> UInt160.to_array()
        request_id,
        payload_hash=hashlib.sha256(payload).digest(),
        vrf_key_version=NO_KEY_VERSION,
        vrf_key_hash=bytes(n3_gateway.HASH_SIZE),
        result=result,
    )
    return ctx.sign(message).p256  # secp256r1 over SHA-256(message)

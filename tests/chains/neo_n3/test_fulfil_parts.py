"""The enclave op ``chains.n3_randomness_fulfilment`` on its own (a real in-process enclave): its result
is the DY-VRF proof of the alpha the gateway derives, under the enclave's own N3 VRF key of the version
named, and its signature is ECDSA-P256 over SHA-256 of the 148-byte fulfilment message (payload hash,
key version and key hash included), raw r ‖ s, by the identity key — what
``CryptoLib.verifyWithECDsa(…, secp256r1SHA256)`` verifies (neo-go ``pkg/core/native/crypto.go``)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from neo_service_layer.chains.neo_n3 import messages
from neo_service_layer.enclave.chain_keys import ChainFamily
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.crypto import dyvrf, n3_gateway
from neo_service_layer.enclave.opdefs.chains import N3_RANDOMNESS_FULFILMENT, N3RandomnessFulfilmentArgs
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.services.keys.platform import chain_vrf_public_key

MAGIC = 56753
GATEWAY = "0x" + "0123456789abcdef0123" * 2


async def test_the_op_proves_the_gateway_alpha_and_signs_the_fulfilment_message(
    enclave_server: EnclaveServer, enclave_socket: Path
) -> None:
    enclave = UnixEnclaveClient(enclave_socket, timeout=10.0, pool_size=1)
    try:
        args = N3RandomnessFulfilmentArgs(
            network_magic=MAGIC, gateway=GATEWAY, request_id=7, payload=b"seed", vrf_key_version=3
        )
        answer = await enclave.run(N3_RANDOMNESS_FULFILMENT, args)
        key = await chain_vrf_public_key(enclave, ChainFamily.N3, 3)
        report = await enclave.attest()
    finally:
        await enclave.close()

    gateway_le = bytes.fromhex(GATEWAY[2:])[::-1]
    alpha = messages.randomness_alpha(MAGIC, gateway_le, 7, b"seed")
    beta, pi, x_le = messages.split_randomness_result(answer.result)
    assert answer.vrf_public_key == key.public_key
    assert key.key_hash == n3_gateway.vrf_key_hash(key.public_key)
    assert dyvrf.verify(key.public_key, alpha, pi) == beta == answer.beta
    assert answer.result == messages.randomness_result(pi, alpha)
    assert x_le == dyvrf.neo_scalar_le(dyvrf.alpha_to_scalar(alpha))
    assert answer.signer == bytes.fromhex(report.identity.p256)
    fields: dict[str, Any] = {
        "payload_hash": hashlib.sha256(b"seed").digest(),
        "vrf_key_version": 3,
        "vrf_key_hash": key.key_hash,
    }
    message = messages.fulfilment_message(MAGIC, gateway_le, 7, result=answer.result, **fields)
    assert len(message) == 148
    identity = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), answer.signer)
    r, s = int.from_bytes(answer.signature[:32], "big"), int.from_bytes(answer.signature[32:], "big")
    identity.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))  # raises if not
    others = [
        messages.fulfilment_message(MAGIC, gateway_le, 8, result=answer.result, **fields),
        *(
            messages.fulfilment_message(MAGIC, gateway_le, 7, result=answer.result, **(fields | change))
            for change in (
                {"payload_hash": hashlib.sha256(b"other").digest()},
                {"vrf_key_version": 2},
                {"vrf_key_hash": bytes(32)},
            )
        ),
    ]
    for other in others:
        with pytest.raises(InvalidSignature):
            identity.verify(encode_dss_signature(r, s), other, ec.ECDSA(hashes.SHA256()))

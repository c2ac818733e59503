"""The enclave op ``chains.n3_randomness_fulfilment`` on its own (a real in-process enclave, both
databases for the platform keys): its result is the DY-VRF proof of the alpha the gateway derives, and
its signature is ECDSA-P256 over SHA-256 of the 80-byte fulfilment message, raw r ‖ s, by the identity
key — what ``CryptoLib.verifyWithECDsa(…, secp256r1SHA256)`` verifies (neo-go
``pkg/core/native/crypto.go``); a key of another type is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from neo_service_layer.chains.neo_n3 import messages
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.crypto import dyvrf
from neo_service_layer.enclave.handlers.chains_schemas import (
    N3RandomnessFulfilmentArgs,
    N3RandomnessFulfilmentResult,
)
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.errors import EnclaveKeyUnusable
from neo_service_layer.services.accounts.service import bootstrap
from neo_service_layer.services.keys.platform import n3_relayer_key, n3_vrf_key, public_key_of

MAGIC = 56753
GATEWAY = "0x" + "0123456789abcdef0123" * 2


async def test_the_op_proves_the_gateway_alpha_and_signs_the_fulfilment_message(
    db: Database, enclave_server: EnclaveServer, enclave_socket: Path
) -> None:
    async with db.transaction() as session:
        await bootstrap(session)
    enclave = UnixEnclaveClient(enclave_socket, timeout=10.0, pool_size=1)
    try:
        vrf = await n3_vrf_key(db, enclave)
        relayer = await n3_relayer_key(db, enclave, MAGIC)
        args = N3RandomnessFulfilmentArgs(
            **vrf.args(), network_magic=MAGIC, gateway=GATEWAY, request_id=7, payload=b"seed"
        )
        answer = await enclave.call("chains.n3_randomness_fulfilment", args, N3RandomnessFulfilmentResult)
        with pytest.raises(EnclaveKeyUnusable):
            await enclave.call(
                "chains.n3_randomness_fulfilment",
                args.model_copy(update=relayer.args()),
                N3RandomnessFulfilmentResult,
            )
        report = await enclave.attest()
    finally:
        await enclave.close()

    gateway_le = bytes.fromhex(GATEWAY[2:])[::-1]
    alpha = messages.randomness_alpha(MAGIC, gateway_le, 7, b"seed")
    beta, pi, x_le = messages.split_randomness_result(answer.result)
    assert dyvrf.verify(public_key_of(vrf), alpha, pi) == beta == answer.beta
    assert answer.result == messages.randomness_result(pi, alpha)
    assert x_le == dyvrf.neo_scalar_le(dyvrf.alpha_to_scalar(alpha))
    assert answer.signer == bytes.fromhex(report.identity.p256)
    message = messages.fulfilment_message(MAGIC, gateway_le, 7, answer.result)
    identity = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), answer.signer)
    r, s = int.from_bytes(answer.signature[:32], "big"), int.from_bytes(answer.signature[32:], "big")
    identity.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))  # raises if not
    other = messages.fulfilment_message(MAGIC, gateway_le, 8, answer.result)
    with pytest.raises(InvalidSignature):
        identity.verify(encode_dss_signature(r, s), other, ec.ECDSA(hashes.SHA256()))

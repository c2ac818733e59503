"""Public keys of key versions: export (hex or PEM) and the chain addresses derived from them.

Public keys never need the enclave: they were returned by ``keys.generate`` and are stored beside the
wrapped material. secp256r1 keys get their Neo N3 address and script hash (standard account
verification script, neo-go ``Uint160.StringLE`` display); secp256k1 keys their EIP-55 EVM address.
bls12381 keys (compressed G1) export as hex only: no SubjectPublicKeyInfo algorithm is registered for
them, so PEM is refused rather than invented.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from neo_service_layer.enclave.crypto import evm, neo
from neo_service_layer.enclave.crypto.keytypes import KeyType
from neo_service_layer.services.keys.errors import KeyOperationUnsupported


@dataclass(frozen=True, slots=True)
class Addresses:
    n3_address: str | None = None
    n3_script_hash: str | None = None
    evm_address: str | None = None


def addresses(key_type: KeyType, public_key: bytes | None) -> Addresses:
    """The chain addresses of a public key (none for ed25519 and symmetric keys)."""
    if public_key is None:
        return Addresses()
    if key_type is KeyType.SECP256R1:
        return Addresses(n3_address=neo.address(public_key), n3_script_hash=neo.script_hash_hex(public_key))
    if key_type is KeyType.SECP256K1:
        return Addresses(evm_address=evm.address(public_key))
    return Addresses()


def to_pem(key_type: KeyType, public_key: bytes) -> str:
    """SubjectPublicKeyInfo PEM (RFC 5280 §4.1.2.7; RFC 5480 for EC, RFC 8410 for ed25519).

    Raises :class:`KeyOperationUnsupported` for bls12381 (no registered SPKI algorithm identifier).
    """
    loaded: ec.EllipticCurvePublicKey | Ed25519PublicKey
    if key_type is KeyType.BLS12381:
        raise KeyOperationUnsupported(
            f"key type {key_type.value} has no PEM encoding; export it with format=hex", format="pem"
        )
    if key_type is KeyType.ED25519:
        loaded = Ed25519PublicKey.from_public_bytes(public_key)
    else:
        curve = ec.SECP256R1() if key_type is KeyType.SECP256R1 else ec.SECP256K1()
        loaded = ec.EllipticCurvePublicKey.from_encoded_point(curve, public_key)
    return loaded.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")

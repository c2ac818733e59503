"""Message digests for signing: SHA-2 (FIPS 180-4), Keccak-256 (Ethereum) and the ECDSA input ``e``.

Keccak-256 is the original Keccak submission with ``0x01`` padding, as Ethereum uses it (Yellow
Paper §3, "KEC"); it is *not* FIPS 202 SHA3-256. It comes from ``eth-utils`` (pycryptodome backend).
"""

from __future__ import annotations

import hashlib

from eth_utils.crypto import keccak

from neo_service_layer.enclave.crypto.errors import InvalidInput, UnsupportedOperation
from neo_service_layer.enclave.crypto.keytypes import HashAlgorithm

#: Length in bytes of the ECDSA input for the 256-bit curves (secp256r1, secp256k1).
ECDSA_DIGEST_SIZE = 32


def keccak256(data: bytes) -> bytes:
    """Ethereum Keccak-256 of ``data`` (32 bytes)."""
    return keccak(data)


def digest(hash_alg: HashAlgorithm, data: bytes) -> bytes:
    """Hash ``data`` with ``hash_alg``; ``none`` returns ``data`` unchanged (it already is a digest)."""
    match hash_alg:
        case HashAlgorithm.SHA256:
            return hashlib.sha256(data).digest()
        case HashAlgorithm.SHA384:
            return hashlib.sha384(data).digest()
        case HashAlgorithm.SHA512:
            return hashlib.sha512(data).digest()
        case HashAlgorithm.KECCAK256:
            return keccak256(data)
        case HashAlgorithm.NONE:
            return data
    raise UnsupportedOperation(f"unknown hash algorithm {hash_alg!r}")  # pragma: no cover


def ecdsa_digest(hash_alg: HashAlgorithm, data: bytes) -> bytes:
    """The 32-byte value an ECDSA signature over a 256-bit curve actually signs.

    SEC 1 v2 §4.1.3 step 5 and FIPS 186-5 §6.4.1 step 3: when the hash is longer than the group
    order, only its leftmost ``ceil(log2 n)`` = 256 bits are used, so SHA-384 and SHA-512 digests are
    truncated to their first 32 bytes (checked against the CAVP ``[K-256,SHA-384]`` / ``SHA-512``
    vectors). With ``none`` the data must already be exactly a 32-byte digest.
    """
    if hash_alg is HashAlgorithm.NONE:
        if len(data) != ECDSA_DIGEST_SIZE:
            raise InvalidInput(f"hash 'none' needs a {ECDSA_DIGEST_SIZE}-byte digest, got {len(data)} bytes")
        return data
    return digest(hash_alg, data)[:ECDSA_DIGEST_SIZE]

"""The signature formats of enclave results and attestation reports (docs/enclave.md §3), sign and verify.

* P-256: ECDSA over SHA-256 of the message (FIPS 186-5), encoded ``r ‖ s`` (32 + 32 bytes, big-endian)
  with ``s ≤ n/2``. That is the form Neo N3's ``CryptoLib.verifyWithECDsa(message, pubkey, signature,
  NamedCurveHash.secp256r1SHA256)`` takes (neo ``Crypto.VerifySignature``: 64-byte r‖s); low-s is not
  needed by N3 but makes the encoding unique (no malleability, as BIP 62 / EIP-2 for secp256k1).
* secp256k1: ECDSA over Keccak-256 of the message, ``r ‖ s ‖ v`` with ``v ∈ {27, 28}`` and low s: what
  Solidity's ``ecrecover(keccak256(message), v, r, s)`` takes (Ethereum Yellow Paper, appendix F and the
  ECRECOVER precompile; EIP-2 requires low s for transactions). The signer is identified by its EVM
  address (EIP-55 checksummed).

Verification here is offline and strict (canonical encodings only): a result either verifies with
exactly these bytes or it does not.
"""

from __future__ import annotations

from typing import Final

import coincurve
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

RESULT_DOMAIN: Final = b"NSL-RESULT-V1\x00"
# Curve orders: SEC 2 v2 §2.4.2 (secp256k1) and §2.7.2 / FIPS 186-5 (secp256r1).
P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SECP256K1_ORDER: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
P256_SIGNATURE_BYTES: Final = 64
K1_SIGNATURE_BYTES: Final = 65


def result_preimage(request_hash: bytes, result_hash: bytes) -> bytes:
    """``"NSL-RESULT-V1" ‖ 0x00 ‖ request_hash ‖ result_hash`` (78 bytes), what result signatures cover."""
    if len(request_hash) != 32 or len(result_hash) != 32:
        raise ValueError("request and result hashes must be 32 bytes")
    return RESULT_DOMAIN + request_hash + result_hash


def keccak256(data: bytes) -> bytes:
    return keccak(data)


# --- P-256 ---


def p256_sign(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    """ECDSA-P256-SHA256 of ``message`` as ``r ‖ s`` with low s."""
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    if s > P256_ORDER // 2:
        s = P256_ORDER - s
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def p256_public_bytes(key: ec.EllipticCurvePublicKey) -> bytes:
    """SEC 1 compressed point (33 bytes), as Neo N3 writes public keys."""
    return key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)


def p256_load_public(data: bytes) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from its SEC 1 encoding; ValueError if not a point on the curve."""
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), data)


def p256_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (``r ‖ s``, low s) is ``public_key``'s ECDSA-P256-SHA256 over ``message``."""
    if len(signature) != P256_SIGNATURE_BYTES:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < P256_ORDER and 0 < s <= P256_ORDER // 2):
        return False
    try:
        key = p256_load_public(public_key)
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except (ValueError, InvalidSignature):
        return False
    return True


# --- secp256k1 ---


def k1_sign(key: coincurve.PrivateKey, message: bytes) -> bytes:
    """Recoverable ECDSA-secp256k1 over ``keccak256(message)``: ``r ‖ s ‖ v``, v ∈ {27, 28}.

    libsecp256k1 (behind coincurve) always produces low-s signatures (its documented normal form).
    """
    compact = key.sign_recoverable(message, hasher=keccak256)
    return compact[:64] + bytes([compact[64] + 27])


def k1_public_bytes(key: coincurve.PublicKey) -> bytes:
    return key.format(compressed=True)


def k1_recover(message: bytes, signature: bytes) -> bytes:
    """The compressed public key that made ``signature`` over ``keccak256(message)``.

    ValueError unless the signature is canonical: 65 bytes, 0 < r < n, 0 < s ≤ n/2, v ∈ {27, 28}.
    """
    if len(signature) != K1_SIGNATURE_BYTES:
        raise ValueError("a secp256k1 signature is 65 bytes (r ‖ s ‖ v)")
    r, s, v = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big"), signature[64]
    if not (0 < r < SECP256K1_ORDER and 0 < s <= SECP256K1_ORDER // 2) or v not in (27, 28):
        raise ValueError("not a canonical secp256k1 signature")
    try:
        public = coincurve.PublicKey.from_signature_and_message(
            signature[:64] + bytes([v - 27]), message, hasher=keccak256
        )
    except Exception as exc:  # coincurve raises plain Exception when no key recovers
        raise ValueError("no public key recovers from this signature") from exc
    return public.format(compressed=True)


def k1_load_public(data: bytes) -> coincurve.PublicKey:
    """A secp256k1 public key from its SEC 1 encoding; ValueError if not a point on the curve."""
    try:
        return coincurve.PublicKey(data)
    except Exception as exc:  # coincurve raises ValueError or plain Exception for bad points
        raise ValueError("not a secp256k1 public key") from exc


def evm_address(public_key: bytes) -> str:
    """The EIP-55 checksummed address: the last 20 bytes of keccak256(uncompressed X ‖ Y)."""
    point = k1_load_public(public_key).format(compressed=False)[1:]
    return to_checksum_address(keccak256(point)[-20:])

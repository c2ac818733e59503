"""VRF schemes behind one interface: prove, verify, proof-to-hash, public keys and sizes per scheme.

The randomness service, its enclave op and the Python client call this module and never branch on the
scheme themselves. Schemes (the values are stable wire names, stored and signed):

===============================  ==========  ==========================================  =====  =====  ===
scheme                           key type    construction                                proof  beta   pk
===============================  ==========  ==========================================  =====  =====  ===
``ecvrf-edwards25519-sha512-tai`` ed25519    RFC 9381 §5, suite 0x03 (:mod:`.ecvrf`)        80     64     32
``ecvrf-p256-sha256-tai``        secp256r1   RFC 9381 §5, suite 0x01 (:mod:`.ecvrf`)        81     32     33
``dyvrf-bls12381``               bls12381    Dodis-Yampolskiy on BLS12-381 (:mod:`.dyvrf`)  96     32     48
===============================  ==========  ==========================================  =====  =====  ===

``dyvrf-bls12381`` is the scheme contracts verify on chain (Neo N3 CryptoLib, EVM EIP-2537;
docs/dyvrf.md). The secret is the key material as the keys service stores it (:mod:`.keys`).

:func:`verify` returns β or raises :class:`InvalidProof` (a proof that does not verify, or does not
decode) / :class:`InvalidKeyMaterial` (a public key that does not decode), whatever the scheme.
"""

from __future__ import annotations

from enum import StrEnum

from neo_service_layer.enclave.crypto import dyvrf, ecvrf
from neo_service_layer.enclave.crypto.errors import InvalidKeyMaterial, InvalidProof
from neo_service_layer.enclave.crypto.keytypes import KeyType


class Scheme(StrEnum):
    """The VRF schemes of the randomness service (values are the stable wire names)."""

    ECVRF_EDWARDS25519_SHA512_TAI = "ecvrf-edwards25519-sha512-tai"
    ECVRF_P256_SHA256_TAI = "ecvrf-p256-sha256-tai"
    DYVRF_BLS12381 = "dyvrf-bls12381"

    @property
    def key_type(self) -> KeyType:
        """The key type whose material proves this scheme."""
        return _KEY_TYPES[self]

    @property
    def proof_size(self) -> int:
        """Length in bytes of a proof π."""
        if self is Scheme.DYVRF_BLS12381:
            return dyvrf.PROOF_SIZE
        return ecvrf.proof_size(_suite(self))

    @property
    def output_size(self) -> int:
        """Length in bytes of the output β."""
        if self is Scheme.DYVRF_BLS12381:
            return dyvrf.OUTPUT_SIZE
        return ecvrf.output_size(_suite(self))

    @property
    def public_key_size(self) -> int:
        """Length in bytes of a public key."""
        if self is Scheme.DYVRF_BLS12381:
            return dyvrf.PUBLIC_KEY_SIZE
        return ecvrf.public_key_size(_suite(self))


DEFAULT_SCHEME = Scheme.ECVRF_EDWARDS25519_SHA512_TAI

_KEY_TYPES = {
    Scheme.ECVRF_EDWARDS25519_SHA512_TAI: KeyType.ED25519,
    Scheme.ECVRF_P256_SHA256_TAI: KeyType.SECP256R1,
    Scheme.DYVRF_BLS12381: KeyType.BLS12381,
}


def _suite(scheme: Scheme) -> ecvrf.Suite:
    return ecvrf.Suite(scheme.value)


def public_key(scheme: Scheme, secret: bytes) -> bytes:
    """The VRF public key of ``secret`` (the key material of ``scheme.key_type``)."""
    if scheme is Scheme.DYVRF_BLS12381:
        return dyvrf.public_key(secret)
    return ecvrf.public_key(_suite(scheme), secret)


def prove(scheme: Scheme, secret: bytes, alpha: bytes) -> bytes:
    """The proof π of ``alpha`` under ``secret``."""
    if scheme is Scheme.DYVRF_BLS12381:
        return dyvrf.prove(secret, alpha)
    return ecvrf.prove(_suite(scheme), secret, alpha)


def proof_to_hash(scheme: Scheme, pi: bytes) -> bytes:
    """β of a proof, without checking it against a key and input (:func:`verify` does)."""
    if scheme is Scheme.DYVRF_BLS12381:
        return dyvrf.proof_to_hash(pi)
    return ecvrf.proof_to_hash(_suite(scheme), pi)


def verify(scheme: Scheme, public: bytes, pi: bytes, alpha: bytes) -> bytes:
    """β if ``pi`` proves ``alpha`` under ``public``; raises :class:`InvalidProof` or
    :class:`InvalidKeyMaterial` (bad public key) otherwise. Lengths are checked exactly first."""
    if len(public) != scheme.public_key_size:
        raise InvalidKeyMaterial(
            f"{scheme.value} public key must be {scheme.public_key_size} bytes, got {len(public)}"
        )
    if len(pi) != scheme.proof_size:
        raise InvalidProof(f"{scheme.value} proof must be {scheme.proof_size} bytes, got {len(pi)}")
    if scheme is Scheme.DYVRF_BLS12381:
        dyvrf.validate_public_key(public)
        beta = dyvrf.verify(public, alpha, pi)
        if beta is None:
            raise InvalidProof("the proof does not verify for this public key and input")
        return beta
    return ecvrf.verify(_suite(scheme), public, pi, alpha)

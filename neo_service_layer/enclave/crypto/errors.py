"""Typed errors of the key-type cryptography library.

Every error this package raises on purpose is a :class:`CryptoError` with a stable string ``code``
(never renamed: the enclave maps it onto its protocol error codes, ``key_unusable`` / ``crypto_error`` /
``invalid_args``). ``user_error`` tells the caller whether the request was at fault (bad input, an
operation the key type does not support) or the library was (an internal failure).

Messages never contain key material, plaintext or signatures: only lengths, type names and reasons.
Library exceptions are converted at the boundary with ``raise ... from e``.
"""

from __future__ import annotations

from typing import ClassVar


class CryptoError(Exception):
    """Base of every deliberate error of :mod:`neo_service_layer.enclave.crypto`."""

    code: ClassVar[str] = "crypto_error"
    user_error: ClassVar[bool] = False

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


class UnsupportedOperation(CryptoError):
    """The key type cannot do this (encrypt with an EC key, EVM format with P-256, SHA-256 with ed25519)."""

    code = "unsupported_operation"
    user_error = True


class InvalidKeyMaterial(CryptoError):
    """Private material or a public key has the wrong length, is out of range or is not a curve point."""

    code = "invalid_key_material"
    user_error = True


class InvalidInput(CryptoError):
    """The data to process is malformed: a digest of the wrong length, an unparsable transaction, …"""

    code = "invalid_input"
    user_error = True


class DecryptionFailed(CryptoError):
    """AEAD decryption failed: wrong key, wrong context, tampered or truncated blob (never says which)."""

    code = "decryption_failed"
    user_error = True


class InvalidProof(CryptoError):
    """A VRF proof does not decode: wrong length, not a point of the right group, or the identity.

    Raised by the decoders (``proof_to_hash``, the on-chain encoders); ``verify`` answers "invalid" instead.
    """

    code = "invalid_proof"
    user_error = True


class ProofUndefined(CryptoError):
    """The Dodis-Yampolskiy proof ``1/(sk + x)·G2`` does not exist: ``sk + x ≡ 0 (mod r)``.

    A property of the key and the input together (probability about 2^-254 for a hashed input), so it
    is reported, not retried: the same key can never prove that input.
    """

    code = "proof_undefined"
    user_error = True

"""AES-256-GCM authenticated encryption with an encryption context, and data-key generation.

Blob layout: ``nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)``. The encryption context is GCM's
additional authenticated data (NIST SP 800-38D §5.2.1.1 ``A``): it is not stored in the blob, must be
presented again to decrypt, and decryption fails if it differs (the AWS KMS / OpenBao transit
"encryption context" / "associated data" idea).

Nonces are 96-bit and random (SP 800-38D §8.2.2, RBG-based construction) from the OS CSPRNG. With
random nonces a single key must not encrypt more than 2^32 messages (§8.3); the keys service rotates
keys far below that. Tags are always the full 128 bits (§5.2.1.2); truncated tags are never accepted.

The primitive is ``cryptography``'s ``AESGCM`` (OpenSSL); this module only fixes the sizes and the
error behaviour: :class:`DecryptionFailed` for *any* failure to open (wrong key or context, tampered
or truncated blob), without saying which.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from neo_service_layer.enclave.crypto.errors import DecryptionFailed, InvalidInput
from neo_service_layer.enclave.crypto.keys import generate, validate_material
from neo_service_layer.enclave.crypto.keytypes import KeyType

#: AES-256 key size in bytes.
KEY_SIZE = 32
#: GCM nonce (IV) size in bytes: 96 bits, SP 800-38D §5.2.1.1 recommendation.
NONCE_SIZE = 12
#: GCM tag size in bytes: the full 128 bits.
TAG_SIZE = 16
#: Smallest valid blob: nonce and tag around an empty ciphertext.
MIN_BLOB_SIZE = NONCE_SIZE + TAG_SIZE


class DataKey(NamedTuple):
    """A fresh data-encryption key and the same key wrapped (encrypted) under a key-encryption key."""

    plaintext: bytes
    ciphertext: bytes


def encrypt(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    """Encrypt ``plaintext`` under ``key`` bound to ``context``; returns ``nonce ‖ ciphertext ‖ tag``."""
    nonce = os.urandom(NONCE_SIZE)
    return nonce + _encrypt_with_nonce(key, nonce, plaintext, context)


def decrypt(key: bytes, blob: bytes, context: bytes) -> bytes:
    """Open a blob made by :func:`encrypt`; :class:`DecryptionFailed` on any mismatch or tampering."""
    aesgcm = _aesgcm(key)
    if len(blob) < MIN_BLOB_SIZE:
        raise DecryptionFailed("ciphertext could not be decrypted")
    try:
        return aesgcm.decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], context)
    except InvalidTag as e:
        raise DecryptionFailed("ciphertext could not be decrypted") from e


def generate_data_key() -> bytes:
    """A fresh random AES-256 data key (32 bytes)."""
    return generate(KeyType.AES256_GCM)


def generate_wrapped_data_key(key: bytes, context: bytes) -> DataKey:
    """A fresh data key, plus the same key encrypted under ``key`` with ``context`` (envelope encryption)."""
    data_key = generate_data_key()
    return DataKey(plaintext=data_key, ciphertext=encrypt(key, data_key, context))


def _encrypt_with_nonce(key: bytes, nonce: bytes, plaintext: bytes, context: bytes) -> bytes:
    """GCM-AE of SP 800-38D §7.1 with a caller-chosen nonce; returns ``ciphertext ‖ tag``.

    Internal: only :func:`encrypt` (with a random nonce) and the CAVP known-answer tests call it.
    Reusing a nonce under one key destroys both confidentiality and authenticity.
    """
    if len(nonce) != NONCE_SIZE:
        raise InvalidInput(f"GCM nonce must be {NONCE_SIZE} bytes, got {len(nonce)}")
    return _aesgcm(key).encrypt(nonce, plaintext, context)


def _aesgcm(key: bytes) -> AESGCM:
    validate_material(KeyType.AES256_GCM, key)  # exactly 32 bytes: AES-256 only, never 128/192
    return AESGCM(key)

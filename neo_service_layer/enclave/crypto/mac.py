"""HMAC-SHA256 (RFC 2104, FIPS 198-1) and its constant-time verification.

The primitive is the standard library's ``hmac`` over OpenSSL's SHA-256. As in RFC 2104 §2, any
non-empty key length works (keys longer than the 64-byte block are hashed first, RFC 4231 test
cases 6 and 7); the key-type policy — exactly 32 bytes for stored ``hmac-sha256`` keys — is
:func:`neo_service_layer.enclave.crypto.keys.validate_material`'s job, applied when a key is created
or imported.
"""

from __future__ import annotations

import hmac

from neo_service_layer.enclave.crypto.errors import InvalidKeyMaterial


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """The 32-byte HMAC-SHA256 of ``message`` under ``key``."""
    if not key:
        raise InvalidKeyMaterial("hmac-sha256 key must not be empty")
    return hmac.digest(key, message, "sha256")


def hmac_verify(key: bytes, message: bytes, tag: bytes) -> bool:
    """True if ``tag`` is the HMAC-SHA256 of ``message``; compared in constant time (``hmac.compare_digest``).

    A tag of the wrong length is simply not equal (no truncated tags, RFC 2104 §5 is not offered).
    """
    return hmac.compare_digest(hmac_sha256(key, message), tag)

"""Versioned ciphertext and HMAC strings: ``nsl:v<version>:<base64>`` (Vault transit's ``vault:v1:…``).

The version tells decrypt (and HMAC verify) which key version to use, so ciphertexts made before a
rotation still decrypt. The base64 is standard with padding and canonical (one accepted encoding
per byte string, RFC 4648 §3.5); the version is a decimal without leading zeros, 1..2^31 - 1.
Anything else is refused with a stable code (``invalid_ciphertext`` / ``invalid_hmac``, 422).
"""

from __future__ import annotations

import re
from typing import Final

from neo_service_layer.enclave.canonical import b64decode, b64encode
from neo_service_layer.errors import ValidationFailed
from neo_service_layer.services.keys.errors import InvalidCiphertext

PREFIX: Final = "nsl"
MAX_VERSION: Final = 2**31 - 1
_FORMAT = re.compile(r"^nsl:v([1-9][0-9]{0,9}):([A-Za-z0-9+/]*={0,2})$")


def encode(version: int, data: bytes) -> str:
    """``nsl:v<version>:<base64(data)>``."""
    if not 1 <= version <= MAX_VERSION:
        raise ValueError(f"version {version} is out of range")
    return f"{PREFIX}:v{version}:{b64encode(data)}"


def decode(text: str, error: type[ValidationFailed] = InvalidCiphertext) -> tuple[int, bytes]:
    """``(version, data)`` of a string made by :func:`encode`; ``error`` (a 422) for anything else."""
    match = _FORMAT.fullmatch(text)
    if match is None:
        raise error("expected nsl:v<version>:<base64>")
    version = int(match.group(1))
    if version > MAX_VERSION:
        raise error(f"version {version} is out of range")
    try:
        data = b64decode(match.group(2))
    except ValueError as exc:
        raise error(f"the data part is not canonical base64: {exc}") from exc
    return version, data

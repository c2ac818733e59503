"""Wrapping under an account master key (AMK): key material and secret data keys (docs/enclave.md).

``wrap = AES-256-GCM(amk, nonce, plaintext, aad)`` with
``aad = "nsl-wrap-v1" ‖ 0x00 ‖ purpose ‖ 0x00 ‖ account_id ‖ 0x00 ‖ context``, so a wrapped blob
only opens for the account, purpose and item (e.g. ``"<key_id>:<version>"``) it was made for: a
host that swaps two rows gets an error, never the other key.
"""

from __future__ import annotations

import enum

from neo_service_layer.enclave.crypto import aead
from neo_service_layer.enclave.crypto.errors import DecryptionFailed
from neo_service_layer.enclave.protocol import UnsealFailed

WRAP_LABEL = b"nsl-wrap-v1"


class WrapPurpose(enum.StrEnum):
    KEY_MATERIAL = "key-material"
    SECRET_DEK = "secret-dek"  # noqa: S105 - a purpose label, not a secret


def wrap_aad(account_id: str, purpose: WrapPurpose, context: str) -> bytes:
    return b"\x00".join((WRAP_LABEL, purpose.value.encode(), account_id.encode(), context.encode()))


def wrap(amk: bytes, account_id: str, purpose: WrapPurpose, context: str, plaintext: bytes) -> bytes:
    """``plaintext`` wrapped under ``amk`` for this account, purpose and item."""
    return aead.encrypt(amk, plaintext, wrap_aad(account_id, purpose, context))


def unwrap(amk: bytes, account_id: str, purpose: WrapPurpose, context: str, wrapped: bytes) -> bytes:
    """The plaintext of ``wrapped``; UnsealFailed if it was made for anything else or was altered."""
    try:
        return aead.decrypt(amk, wrapped, wrap_aad(account_id, purpose, context))
    except DecryptionFailed as exc:
        raise UnsealFailed(f"{purpose.value} {context} does not open under this account master key") from exc

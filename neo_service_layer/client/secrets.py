"""Client side of the secrets service: seal values for the enclave, open values sealed for you.

Secret values never travel in the clear, not even through the API process (docs/secrets.md)::

    identity = verify_attestation(report, expected_measurement=...)         # GET /v1/attestation
    body = {"sealed_value": seal_secret_value(identity, account_id, "db-password", b"hunter2", cas=0)}
    # PUT /v1/secrets/db-password  (201: version 1, "id": "sec_…")
    update = seal_secret_value(identity, account_id, "db-password", b"hunter3", cas=1, secret_id="sec_…")
    # PUT /v1/secrets/db-password  {"sealed_value": update, "cas": 1}

    reader = RecipientKey.generate()
    # GET /v1/secrets/db-password  with  X-NSL-Recipient-Key: reader.public_hex
    value = open_secret_value(reader, response["result"]["sealed_value"])

Sealing is libsodium's ``crypto_box_seal`` (X25519 + XSalsa20-Poly1305, anonymous sender) over the
canonical-JSON envelopes of ``enclave/opdefs/secrets.py``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.public
from pydantic import ValidationError

from neo_service_layer.client.attestation import VerifiedIdentity, verify_attestation
from neo_service_layer.enclave.canonical import b64decode, b64encode, canonical_json
from neo_service_layer.enclave.opdefs.secrets import (
    MAX_SECRET_BYTES,
    WRITE_FORMAT,
    ReadEnvelope,
    WriteEnvelope,
)
from neo_service_layer.enclave.schemas import AttestationReport
from neo_service_layer.errors import SecretSealingFailed

X25519_KEY_BYTES = 32


@dataclass(frozen=True, slots=True, repr=False)
class RecipientKey:
    """An X25519 key pair to receive secret values with. The private half stays with the reader."""

    private_key: nacl.public.PrivateKey

    @classmethod
    def generate(cls) -> RecipientKey:
        return cls(nacl.public.PrivateKey.generate())

    @classmethod
    def from_bytes(cls, private: bytes) -> RecipientKey:
        if len(private) != X25519_KEY_BYTES:
            raise SecretSealingFailed("an X25519 private key is 32 bytes")
        return cls(nacl.public.PrivateKey(private))

    @property
    def public_hex(self) -> str:
        """The public key as the API takes it (``X-NSL-Recipient-Key`` or ``?recipient=``)."""
        return bytes(self.private_key.public_key).hex()

    def __repr__(self) -> str:
        return f"RecipientKey(public={self.public_hex}, private=**********)"


type TransportTarget = VerifiedIdentity | AttestationReport | Mapping[str, Any] | bytes | str


def transport_key(target: TransportTarget, *, allow_software: bool = False) -> bytes:
    """The enclave's X25519 transport key from a verified identity, a report (verified here) or the key.

    A report is checked with :func:`verify_attestation` first (``allow_software`` as there): sealing to
    an unverified key would hand the value to whoever made the report.
    """
    if isinstance(target, VerifiedIdentity):
        return target.x25519
    if isinstance(target, AttestationReport | Mapping):
        return verify_attestation(target, allow_software=allow_software).x25519
    key = bytes.fromhex(target) if isinstance(target, str) else target
    if len(key) != X25519_KEY_BYTES:
        raise SecretSealingFailed("the transport key is 32 bytes (64 hex digits)")
    return key


def seal_secret_value(
    target: TransportTarget,
    account_id: str,
    name: str,
    value: bytes,
    *,
    cas: int,
    secret_id: str | None = None,
    allowed_hosts: Sequence[str] = (),
    allow_software: bool = False,
) -> str:
    """``value`` sealed for the enclave as one write of secret ``name`` in ``account_id`` (base64).

    ``cas`` is the version this write replaces (0: it creates the secret) and ``secret_id`` the ``id``
    of the secret it replaces it in (for ``cas > 0``; from the secret's metadata or the last write's
    response). The enclave refuses the result for any other account, name, version or secret, so it
    is good for one write: stored again (a replay) it is refused with ``sealed_value_stale``.
    ``allowed_hosts`` are the only hosts the value may ever be sent to (an oracle request's
    ``{{secrets.NAME}}``): sealed with the value and bound into its ciphertext, so nobody without the
    value can widen them; none (the default) means it is never sent anywhere.
    ``target`` is the enclave's attestation report (verified here), a :class:`VerifiedIdentity`, or its
    transport key.
    """
    if len(value) > MAX_SECRET_BYTES:
        raise SecretSealingFailed(f"a secret value is at most {MAX_SECRET_BYTES} bytes")
    document: dict[str, Any] = {
        "format": WRITE_FORMAT,
        "account_id": account_id,
        "name": name,
        "cas": cas,
        "secret_id": secret_id,
        "value": b64encode(value),
    }
    if allowed_hosts:
        document["allowed_hosts"] = sorted({host.lower() for host in allowed_hosts})
    try:
        WriteEnvelope.model_validate(document)
    except ValidationError as exc:
        raise SecretSealingFailed(
            "not a write the enclave takes: check the account id, the name, cas (≥ 0), secret_id "
            "(the secret's id when cas > 0, none when cas = 0) and allowed_hosts (at most 16 host names)"
        ) from exc
    key = nacl.public.PublicKey(transport_key(target, allow_software=allow_software))
    return b64encode(nacl.public.SealedBox(key).encrypt(canonical_json(document)))


def open_secret_envelope(recipient: RecipientKey | bytes, sealed: str | bytes) -> ReadEnvelope:
    """The read envelope sealed to ``recipient``: value plus the account, secret id, name and version."""
    key = recipient if isinstance(recipient, RecipientKey) else RecipientKey.from_bytes(recipient)
    try:
        box = b64decode(sealed) if isinstance(sealed, str) else sealed
        plaintext = nacl.public.SealedBox(key.private_key).decrypt(box)
    except (ValueError, nacl.exceptions.CryptoError) as exc:
        raise SecretSealingFailed("the sealed value does not open with this recipient key") from exc
    try:
        return ReadEnvelope.model_validate(json.loads(plaintext))
    except (ValueError, ValidationError) as exc:
        raise SecretSealingFailed("the sealed value is not an nsl-secret-read-v1 envelope") from exc


def open_secret_value(
    recipient: RecipientKey | bytes,
    sealed: str | bytes,
    *,
    account_id: str | None = None,
    name: str | None = None,
    version: int | None = None,
) -> bytes:
    """The secret value sealed to ``recipient``; checks account, name and version when given."""
    envelope = open_secret_envelope(recipient, sealed)
    expected = {"account_id": account_id, "name": name, "version": version}
    for field, want in expected.items():
        if want is not None and getattr(envelope, field) != want:
            raise SecretSealingFailed(f"the sealed value is for another {field.replace('_', ' ')}")
    return envelope.value

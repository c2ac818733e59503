"""The secrets ops (handlers: ``handlers/secrets.py``), their schemas and the sealed value envelopes.

A client never sends a secret value in the clear: it seals (libsodium ``crypto_box_seal``, X25519 +
XSalsa20-Poly1305) a small canonical-JSON envelope to the enclave's transport key::

    write envelope = {"format": "nsl-secret-write-v2", "account_id": …, "name": …,
                      "cas": n, "secret_id": <id of the secret, null when cas = 0>, "value": <base64>}

and the enclave refuses it unless it is for exactly the write the host asks for: ``account_id`` and
``name`` those of the request (no move into another account or secret), and ``cas`` the version that
the write replaces, ``secret_id`` the secret it replaces it in (0 and null: a creation). A sealed value
so names the one version it may become, ``cas + 1``; stored again later (a replay), it is refused, or,
by a host that also rolls the secret back, it can only become that same version again. Version 1 of
the format bound no version and is refused. A read returns the value sealed to the reader's X25519 key::

    read envelope  = {"format": "nsl-secret-read-v1", "account_id": …, "secret_id": …, "name": …,
                      "version": n, "value": <base64>}

At rest each version is ``AES-256-GCM(dek, value, aad)`` with a fresh 256-bit data key (DEK) and::

    aad = "nsl-secret-value-v1" ‖ 0x00 ‖ account_id ‖ 0x00 ‖ secret_id ‖ 0x00 ‖ decimal(version)

and the DEK is wrapped under the account master key (purpose ``secret-dek``, context
``"<secret_id>:<version>"``, ``wrapping.py``): rows swapped by the host fail to open.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, Self

from pydantic import Field, model_validator

from neo_service_layer.enclave.canonical import B64Bytes
from neo_service_layer.enclave.opdefs.amk import SealedAmk
from neo_service_layer.enclave.opdefs.base import Op, SignedOp
from neo_service_layer.enclave.schemas import (
    UNSIGNED,
    EnclaveModel,
    HexX25519Key,
    SealedBytes,
    SignedArgs,
)
from neo_service_layer.ids import AccountId, ResourceId

WRITE_FORMAT: Final = "nsl-secret-write-v2"
#: The first write format: it bound no version, so a captured value could be stored again. Refused.
LEGACY_WRITE_FORMAT: Final = "nsl-secret-write-v1"
READ_FORMAT: Final = "nsl-secret-read-v1"
VALUE_AAD_LABEL: Final = b"nsl-secret-value-v1"
#: Largest secret value (bytes). Vault's default KV entry limit is 1 MiB; ours are credentials.
MAX_SECRET_BYTES: Final = 64 * 1024
#: A sealed write envelope: the value in base64 (4/3), the JSON around it, the 48-byte box overhead.
MAX_SEALED_BYTES: Final = MAX_SECRET_BYTES * 4 // 3 + 1024
MAX_SECRET_VERSION: Final = 2**31 - 1
SECRET_NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"  # noqa: S105 - a pattern
MAX_RESOLVED_SECRETS: Final = 64
#: The hosts a version's value may be sent to (oracle requests, functions' fetch): lowercase DNS names
#: or IPv4 literals. Sealed by the writer with the value and bound into its ciphertext (docs/secrets.md).
HOST_PATTERN: Final = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
MAX_ALLOWED_HOSTS: Final = 16

SecretName = Annotated[str, Field(pattern=SECRET_NAME_PATTERN)]
SecretVersionNumber = Annotated[int, Field(ge=1, le=MAX_SECRET_VERSION)]
HostName = Annotated[str, Field(pattern=HOST_PATTERN, max_length=253)]
AllowedHosts = Annotated[list[HostName], Field(max_length=MAX_ALLOWED_HOSTS)]
UnsignedAmk = Annotated[SealedAmk, UNSIGNED]


class WriteEnvelope(EnclaveModel):
    """What a client seals to the transport key for a write: the value and the one write it is for."""

    format: Literal["nsl-secret-write-v2"]
    account_id: AccountId
    name: SecretName
    cas: Annotated[int, Field(ge=0, lt=MAX_SECRET_VERSION)]
    secret_id: ResourceId | None
    value: Annotated[B64Bytes, Field(max_length=MAX_SECRET_BYTES)]
    # Optional (absent: the value is never sent to any host), so earlier v2 envelopes stay valid.
    allowed_hosts: AllowedHosts = Field(default_factory=list)

    @model_validator(mode="after")
    def _secret_id_for_updates_only(self) -> Self:
        if (self.cas == 0) != (self.secret_id is None):
            raise ValueError("secret_id names the secret an update (cas > 0) writes to, and only then")
        return self


class ReadEnvelope(EnclaveModel):
    """What the enclave seals to a reader's key."""

    format: Literal["nsl-secret-read-v1"]
    account_id: AccountId
    secret_id: ResourceId
    name: SecretName
    version: SecretVersionNumber
    value: B64Bytes


class EncryptArgs(EnclaveModel):
    """``secrets.encrypt``: open a sealed write envelope and encrypt it as a new version."""

    account_id: AccountId
    secret_id: ResourceId
    name: SecretName
    version: SecretVersionNumber
    amk: SealedAmk
    sealed_value: Annotated[B64Bytes, Field(min_length=1, max_length=MAX_SEALED_BYTES)]


class EncryptResult(EnclaveModel):
    """The new version; ``allowed_hosts`` as the writer sealed them (sorted), for the host to store."""

    ciphertext: B64Bytes
    wrapped_dek: B64Bytes
    amk_version: int
    allowed_hosts: AllowedHosts


class StoredVersion(EnclaveModel):
    """One stored version as the host keeps it: ciphertext and the DEK wrapped under ``amk``."""

    secret_id: ResourceId
    name: SecretName
    version: SecretVersionNumber
    ciphertext: B64Bytes
    wrapped_dek: B64Bytes
    amk: SealedAmk
    # Bound into the ciphertext: presented otherwise than sealed, the version does not decrypt.
    allowed_hosts: AllowedHosts = Field(default_factory=list)


class ReadArgs(SignedArgs):
    """``secrets.read`` (signed): the value of one version, sealed to ``recipient``.

    Signed params are the secret id, name, version and recipient key: the signature tells the reader
    that the enclave sealed exactly this version for exactly this key.
    """

    secret_id: ResourceId
    name: SecretName
    version: SecretVersionNumber
    recipient: HexX25519Key
    amk: UnsignedAmk
    ciphertext: SealedBytes
    wrapped_dek: SealedBytes
    allowed_hosts: Annotated[AllowedHosts, UNSIGNED] = Field(default_factory=list)


class ReadResult(EnclaveModel):
    secret_id: ResourceId
    name: SecretName
    version: int
    sealed_value: B64Bytes


class ResolveArgs(EnclaveModel):
    """The stored records of the secrets granted to a function or oracle request (``resolve_secrets``)."""

    account_id: AccountId
    secrets: Annotated[list[StoredVersion], Field(max_length=MAX_RESOLVED_SECRETS)]


def dek_context(secret_id: str, version: int) -> str:
    """The wrap context of a version's data key: ``"<secret_id>:<version>"`` (the host rewraps it too)."""
    return f"{secret_id}:{version}"


ENCRYPT: Final = Op("secrets.encrypt", EncryptArgs, EncryptResult)
READ: Final = SignedOp("secrets.read", ReadArgs, ReadResult)

"""Request and response bodies of ``/v1/secrets`` and ``/v1/account/master-key``.

No body here ever holds a secret value in the clear: writes take ``sealed_value`` (sealed to the
enclave's transport key, ``client.secrets.seal_secret_value``), reads return ``sealed_value`` sealed to
the reader's key plus ``envelope``, the enclave's signed result unchanged (docs/secrets.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema

from neo_service_layer.api.routes.schemas import StrictBody
from neo_service_layer.config.settings import MAX_SECRETS_MAX_VERSIONS
from neo_service_layer.enclave.canonical import b64decode
from neo_service_layer.enclave.opdefs.secrets import MAX_SEALED_BYTES, MAX_SECRET_VERSION
from neo_service_layer.enclave.schemas import SignedResult
from neo_service_layer.services.secrets.models import GranteeKind, Secret, SecretGrant, SecretVersion

MAX_SEALED_CHARS = (MAX_SEALED_BYTES + 2) // 3 * 4
MAX_VERSIONS_PER_CALL = 100
GRANTEE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"
SecretVersionNumber = Annotated[int, Field(strict=True, ge=1, le=MAX_SECRET_VERSION)]


def _base64(value: str) -> str:
    try:
        b64decode(value)
    except ValueError as exc:
        raise ValueError("must be standard base64 with padding") from exc
    return value


SealedValue = Annotated[
    str,
    Field(min_length=4, max_length=MAX_SEALED_CHARS),
    AfterValidator(_base64),
    WithJsonSchema(
        {
            "type": "string",
            "format": "byte",
            "contentEncoding": "base64",
            "description": "The value sealed to the enclave's transport key (docs/secrets.md)",
        }
    ),
]


class SecretWriteIn(StrictBody):
    sealed_value: SealedValue
    cas: int | None = Field(
        default=None,
        strict=True,
        ge=0,
        le=MAX_SECRET_VERSION,
        description="Check-and-set: the version expected to be current; 0 = the secret must not exist",
    )


class SecretWritten(BaseModel):
    id: str
    name: str
    version: int
    created_at: datetime


class SecretOut(BaseModel):
    """A secret's metadata (never its value)."""

    id: str
    name: str
    current_version: int
    max_versions: int
    cas_required: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, secret: Secret) -> SecretOut:
        return cls(
            id=secret.id,
            name=secret.name,
            current_version=secret.current_version,
            max_versions=secret.max_versions,
            cas_required=secret.cas_required,
            created_at=secret.created_at,
            updated_at=secret.updated_at,
        )


class VersionOut(BaseModel):
    version: int
    created_at: datetime
    deleted_at: datetime | None
    destroyed: bool
    allowed_hosts: list[str] = Field(
        description="The hosts the value may be sent to, as the writer sealed them"
    )

    @classmethod
    def of(cls, row: SecretVersion) -> VersionOut:
        return cls(
            version=row.version,
            created_at=row.created_at,
            deleted_at=row.deleted_at,
            destroyed=row.destroyed,
            allowed_hosts=row.allowed_hosts or [],
        )


class SecretMetadataOut(SecretOut):
    versions: list[VersionOut]

    @classmethod
    def with_versions(cls, secret: Secret, versions: list[SecretVersion]) -> SecretMetadataOut:
        return cls(**SecretOut.of(secret).model_dump(), versions=[VersionOut.of(v) for v in versions])


class SecretMetadataPatch(StrictBody):
    max_versions: int | None = Field(default=None, strict=True, ge=1, le=MAX_SECRETS_MAX_VERSIONS)
    cas_required: bool | None = Field(default=None, strict=True)


class VersionsIn(StrictBody):
    versions: list[SecretVersionNumber] = Field(min_length=1, max_length=MAX_VERSIONS_PER_CALL)


class VersionsOut(BaseModel):
    """The state of each version the call named, after the call."""

    versions: list[VersionOut]


class SecretReadOut(BaseModel):
    """The value of one version, sealed to the recipient key; ``envelope`` is the enclave's signed result."""

    id: str
    name: str
    version: int
    sealed_value: str = Field(
        description="Base64 sealed box for the recipient key (client.secrets.open_secret_value)"
    )
    envelope: SignedResult


class GrantIn(StrictBody):
    grantee_kind: GranteeKind
    grantee: str = Field(pattern=GRANTEE_PATTERN, description="The function or oracle request name")


class GrantOut(BaseModel):
    secret: str
    grantee_kind: GranteeKind
    grantee: str
    created_at: datetime

    @classmethod
    def of(cls, name: str, grant: SecretGrant) -> GrantOut:
        return cls(
            secret=name, grantee_kind=grant.grantee_kind, grantee=grant.grantee, created_at=grant.created_at
        )


class GrantsOut(BaseModel):
    items: list[GrantOut]


class MasterKeyRotated(BaseModel):
    version: int = Field(description="The account master key's new version")
    rewrapped: int = Field(description="Key versions and secret data keys moved to it")

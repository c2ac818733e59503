"""Request and response bodies of the platform routes (accounts, members, API keys, tokens, audit)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, field_validator

from neo_service_layer.db.models import Account, ApiKey, AuditEntry, Member, Outcome, Role
from neo_service_layer.services.accounts.api_keys import IssuedKey
from neo_service_layer.services.accounts.principal import AccountView

NAME_FIELD = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
# "<service>:read|write" or "*"; which services exist is checked by services.accounts.scopes.
Scope = Annotated[str, Field(max_length=64, pattern=r"^(\*|[a-z]{1,32}:(read|write))$")]


class StrictBody(BaseModel):
    """Request bodies reject unknown fields: a typo must not be silently ignored.

    Numbers and booleans are ``strict`` (no ``true`` for 1, no ``"yes"`` for true): the body must be
    what the OpenAPI schema says. Not the whole model: FastAPI validates parsed JSON in Python mode,
    where strict enums and datetimes would refuse their JSON strings.
    """

    model_config = ConfigDict(extra="forbid")


class AccountIn(StrictBody):
    name: str = NAME_FIELD


class AccountOut(BaseModel):
    id: str
    name: str
    is_system: bool
    disabled: bool
    created_at: datetime

    @classmethod
    def of(cls, account: Account | AccountView) -> AccountOut:
        return cls(
            id=account.id,
            name=account.name,
            is_system=account.is_system,
            disabled=account.disabled,
            created_at=account.created_at,
        )


class AccountPatch(StrictBody):
    disabled: bool = Field(strict=True)


class MemberIn(StrictBody):
    email: EmailStr
    role: Role


class MemberOut(BaseModel):
    id: str
    account_id: str
    email: str
    role: Role
    created_at: datetime

    @classmethod
    def of(cls, member: Member) -> MemberOut:
        return cls(
            id=member.id,
            account_id=member.account_id,
            email=member.email,
            role=member.role,
            created_at=member.created_at,
        )


class ApiKeyIn(StrictBody):
    name: str = NAME_FIELD
    role: Role = Role.DEVELOPER
    scopes: list[Scope] = Field(default_factory=lambda: ["*"], min_length=1, max_length=64)
    expires_at: AwareDatetime | None = Field(
        default=None, description="With a UTC offset, in the future; no expiry when null."
    )

    @field_validator("expires_at", mode="before")
    @classmethod
    def _rfc3339_only(cls, value: object) -> object:
        # Lax datetimes would also take a number of seconds since 1970; the schema says a string.
        if value is not None and not isinstance(value, str):
            raise ValueError("expires_at must be an RFC 3339 date-time string")
        return value

    @field_validator("expires_at")
    @classmethod
    def _to_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError as exc:  # e.g. 9999-12-31T23:00:00-05:00 is past year 9999 in UTC
            raise ValueError("expires_at is out of range") from exc


class ApiKeyOut(BaseModel):
    id: str
    account_id: str
    name: str
    prefix: str
    role: Role
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    replaced_by: str | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(
            id=key.id,
            account_id=key.account_id,
            name=key.name,
            prefix=key.prefix,
            role=key.role,
            scopes=list(key.scopes),
            created_at=key.created_at,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
            replaced_by=key.replaced_by,
        )


class ApiKeyCreated(ApiKeyOut):
    secret: str | None = Field(description="The full API key. Shown once; a replayed response has null here.")

    @classmethod
    def issued(cls, issued: IssuedKey) -> ApiKeyCreated:
        return cls(**ApiKeyOut.of(issued.record).model_dump(), secret=issued.plaintext)


class RotateIn(StrictBody):
    overlap_seconds: int | None = Field(
        default=None, strict=True, ge=0, le=30 * 24 * 3600, description="How long the old key keeps working"
    )


class TokenIn(StrictBody):
    ttl_seconds: int | None = Field(default=None, strict=True, ge=1, le=24 * 3600)


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type name
    expires_in: int


class AuditEntryOut(BaseModel):
    seq: int
    created_at: datetime
    actor: str
    action: str
    resource: str
    outcome: Outcome
    status_code: int
    request_id: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            seq=entry.seq,
            created_at=entry.created_at,
            actor=entry.actor,
            action=entry.action,
            resource=entry.resource,
            outcome=entry.outcome,
            status_code=entry.status_code,
            request_id=entry.request_id,
            details=entry.details,
            prev_hash=entry.prev_hash,
            hash=entry.hash,
        )

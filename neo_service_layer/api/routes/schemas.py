"""Request and response bodies of the platform routes (accounts, members, API keys, tokens, audit)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from neo_service_layer.db.models import Account, ApiKey, AuditEntry, Member, Role
from neo_service_layer.services.accounts.api_keys import IssuedKey

NAME_FIELD = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")


class StrictBody(BaseModel):
    """Request bodies reject unknown fields: a typo must not be silently ignored."""

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
    def of(cls, account: Account) -> AccountOut:
        return cls(
            id=account.id,
            name=account.name,
            is_system=account.is_system,
            disabled=account.disabled,
            created_at=account.created_at,
        )


class AccountPatch(StrictBody):
    disabled: bool


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
            role=Role(member.role),
            created_at=member.created_at,
        )


class ApiKeyIn(StrictBody):
    name: str = NAME_FIELD
    role: Role = Role.DEVELOPER
    scopes: list[str] = Field(default_factory=lambda: ["*"], min_length=1, max_length=64)
    expires_at: datetime | None = None


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
            role=Role(key.role),
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
        default=None, ge=0, le=30 * 24 * 3600, description="How long the old key keeps working"
    )


class TokenIn(StrictBody):
    ttl_seconds: int | None = Field(default=None, ge=1, le=24 * 3600)


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
    outcome: str
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

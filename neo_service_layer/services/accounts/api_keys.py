"""API keys: ``nsl_<prefix>_<secret>``; shown once, stored as SHA-256, looked up by prefix.

API keys carry 256 bits of entropy, so a fast hash (as GitHub and Stripe do) is the right choice:
a slow password hash would buy nothing against brute force and cost every request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import Account, ApiKey, Role
from neo_service_layer.errors import (
    Conflict,
    CredentialExpired,
    CredentialRevoked,
    Forbidden,
    MissingScope,
    NotFound,
    Unauthenticated,
    ValidationFailed,
)
from neo_service_layer.ids import IdPrefix, new_id
from neo_service_layer.services.accounts.principal import Principal
from neo_service_layer.services.accounts.scopes import role_can_grant, uncovered_scopes, validate_scopes

KEY_PREFIX = "nsl"
PREFIX_BYTES = 6
SECRET_BYTES = 32
# What a presented key may look like: ``nsl_<id>_<secret>``. Generated keys use 12 hex digits and
# token_urlsafe; an operator-pinned bootstrap key may use any visible ASCII in its secret. The
# bounds keep the lookup prefix within api_keys.prefix (40 characters) and reject control bytes.
_PREFIX_PART = re.compile(r"[A-Za-z0-9]{1,36}")
_SECRET_PART = re.compile(r"[\x21-\x7e]{1,512}")
# A pinned key must still be hard to guess: the fast hash above is only sound for high-entropy secrets.
MIN_PINNED_SECRET_CHARS = 32


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A newly created key: the row and the one-time plaintext."""

    record: ApiKey
    plaintext: str


def hash_secret(plaintext: str) -> bytes:
    return hashlib.sha256(plaintext.encode()).digest()


def split_key(plaintext: str) -> str:
    """The lookup prefix (``nsl_xxxxxxxx``) of a presented key, or raise Unauthenticated."""
    parts = plaintext.split("_", 2)
    if (
        len(parts) != 3
        or parts[0] != KEY_PREFIX
        or not _PREFIX_PART.fullmatch(parts[1])
        or not _SECRET_PART.fullmatch(parts[2])
    ):
        raise Unauthenticated("malformed API key", reason="malformed")
    return f"{parts[0]}_{parts[1]}"


def _generate() -> tuple[str, str]:
    prefix = f"{KEY_PREFIX}_{secrets.token_hex(PREFIX_BYTES)}"
    return prefix, f"{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"


def is_active(key: ApiKey, now: datetime) -> bool:
    return key.revoked_at is None and (key.expires_at is None or key.expires_at > now)


async def create_key(
    session: AsyncSession,
    *,
    account_id: str,
    name: str,
    role: Role,
    scopes: list[str],
    expires_at: datetime | None,
    created_by: str,
    plaintext: str | None = None,
) -> IssuedKey:
    """Create a key in ``account_id``. ``plaintext`` lets an operator pin the bootstrap key.

    Admin keys exist only in the system account: anywhere else they would make a tenant an operator.
    """
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailed("expires_at must be in the future")
    if role == Role.ADMIN:
        account = await session.get(Account, account_id)
        if account is None:
            raise NotFound(f"account {account_id} not found")
        if not account.is_system:
            raise Forbidden("admin keys exist only in the system account")
    if plaintext is None:
        prefix, plaintext = _generate()
    else:
        try:
            prefix = split_key(plaintext)
        except Unauthenticated as exc:
            raise ValidationFailed("a pinned API key must look like nsl_<letters/digits>_<secret>") from exc
        if len(plaintext) - len(prefix) - 1 < MIN_PINNED_SECRET_CHARS:
            raise ValidationFailed(f"a pinned API key needs {MIN_PINNED_SECRET_CHARS}+ secret characters")
    record = ApiKey(
        id=new_id(IdPrefix.API_KEY),
        account_id=account_id,
        name=name,
        prefix=prefix,
        secret_hash=hash_secret(plaintext),
        role=role,
        scopes=validate_scopes(scopes),
        expires_at=expires_at,
        created_by=created_by,
    )
    session.add(record)
    await session.flush()
    return IssuedKey(record, plaintext)


async def issue_for(
    session: AsyncSession,
    caller: Principal,
    *,
    account_id: str,
    name: str,
    role: Role,
    scopes: list[str],
    expires_at: datetime | None,
) -> IssuedKey:
    """Create a key on behalf of ``caller``, who may not hand out more than they have.

    No role above their own, no scope outside their own (or a key could mint a broader key).
    """
    if not role_can_grant(caller.role, role):
        raise Forbidden(f"a {caller.role.value} cannot create a {role.value} key")
    if role == Role.ADMIN and not caller.is_admin:
        raise Forbidden("only administrators create admin keys")
    clean_scopes = validate_scopes(scopes)
    if missing := uncovered_scopes(caller.scopes, clean_scopes):
        raise MissingScope(
            f"the calling credential cannot grant {', '.join(missing)}: it does not hold it",
            scope=missing[0],
        )
    return await create_key(
        session,
        account_id=account_id,
        name=name,
        role=role,
        scopes=clean_scopes,
        expires_at=expires_at,
        created_by=caller.actor,
    )


def list_statement() -> Select[ApiKey]:
    """The account's API keys (the session adds the account filter)."""
    return select(ApiKey)


async def get_key(session: AsyncSession, key_id: str) -> ApiKey:
    """A key of the session's account, or NotFound."""
    key = (await session.execute(select(ApiKey).where(ApiKey.id == key_id))).scalar_one_or_none()
    if key is None:
        raise NotFound(f"API key {key_id} not found")
    return key


async def rotate_key(session: AsyncSession, caller: Principal, key_id: str, overlap: timedelta) -> IssuedKey:
    """Issue a successor with the same role and scopes; the old key keeps working for ``overlap``."""
    old = await get_key(session, key_id)
    now = utcnow()
    if not is_active(old, now):
        raise Conflict("only an active key can be rotated")
    if old.replaced_by is not None:
        raise Conflict(f"key already rotated to {old.replaced_by}")
    new = await issue_for(
        session,
        caller,
        account_id=old.account_id,
        name=old.name,
        role=old.role,
        scopes=old.scopes,
        expires_at=old.expires_at,
    )
    old.replaced_by = new.record.id
    overlap_end = now + overlap
    old.expires_at = overlap_end if old.expires_at is None else min(old.expires_at, overlap_end)
    await session.flush()
    return new


async def revoke_key(session: AsyncSession, key_id: str, *, caller: Principal | None = None) -> ApiKey:
    """Revoke a key at once (idempotent).

    A ``caller`` may not revoke a key of a higher role than theirs; without one (an operator working
    on the database) any key can be revoked.
    """
    key = await get_key(session, key_id)
    if caller is not None and not role_can_grant(caller.role, key.role):
        raise Forbidden(f"a {caller.role.value} cannot revoke a {key.role} key")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
    return key


def _check_usable(key: ApiKey, account_disabled: bool) -> None:
    if key.revoked_at is not None:
        raise CredentialRevoked("API key has been revoked")
    if key.expires_at is not None and key.expires_at <= utcnow():
        raise CredentialExpired("API key has expired")
    if account_disabled:
        raise Unauthenticated("the account is disabled", reason="account_disabled")


def _with_account_state(key_filter: ColumnElement[bool]) -> Select[ApiKey, bool]:
    return select(ApiKey, Account.disabled).join(Account, Account.id == ApiKey.account_id).where(key_filter)


async def authenticate_key(session: AsyncSession, plaintext: str) -> tuple[Principal, datetime | None]:
    """The principal of a presented key and when the key expires.

    Raises Unauthenticated (unknown key, disabled account), CredentialRevoked or CredentialExpired.
    """
    prefix = split_key(plaintext)
    row = (await session.execute(_with_account_state(ApiKey.prefix == prefix))).one_or_none()
    if row is None or not hmac.compare_digest(row[0].secret_hash, hash_secret(plaintext)):
        raise Unauthenticated("unknown API key", reason="unknown")
    key, account_disabled = row
    _check_usable(key, account_disabled)
    principal = Principal(
        account_id=key.account_id,
        role=key.role,
        scopes=tuple(key.scopes),
        credential_id=key.id,
        actor=f"api_key:{key.id}",
    )
    return principal, key.expires_at


async def ensure_usable(session: AsyncSession, key_id: str) -> datetime | None:
    """Raise unless key ``key_id`` still works (a token minted from a key dies with it); return its expiry.

    Raises Unauthenticated (unknown key, disabled account), CredentialRevoked or CredentialExpired.
    """
    row = (await session.execute(_with_account_state(ApiKey.id == key_id))).one_or_none()
    if row is None:
        raise Unauthenticated("the credential behind this token does not exist", reason="unknown")
    key, account_disabled = row
    _check_usable(key, account_disabled)
    return key.expires_at

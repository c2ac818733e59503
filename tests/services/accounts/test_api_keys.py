"""API keys below HTTP: the key format, hashing, issuing, authenticating, rotating and revoking."""

from __future__ import annotations

import hashlib
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import Account, Role
from neo_service_layer.db.session import Database
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
from neo_service_layer.services.accounts import api_keys
from neo_service_layer.services.accounts.api_keys import hash_secret, split_key
from neo_service_layer.services.accounts.principal import Principal
from neo_service_layer.services.accounts.service import create_account

PINNED = "nsl_ops_" + "s" * 32


def _create(
    session: AsyncSession,
    account_id: str,
    role: Role,
    *,
    expires_at: datetime | None = None,
    plaintext: str | None = None,
) -> Coroutine[Any, Any, api_keys.IssuedKey]:
    """``api_keys.create_key`` with what these tests do not vary: the name, every scope, the creator."""
    return api_keys.create_key(
        session,
        account_id=account_id,
        name="k",
        role=role,
        scopes=["*"],
        expires_at=expires_at,
        created_by="t",
        plaintext=plaintext,
    )


@pytest.mark.parametrize(
    ("plaintext", "prefix"),
    [
        ("nsl_0123456789ab_AbC-dEf_gh", "nsl_0123456789ab"),
        ("nsl_a_b", "nsl_a"),
        ("nsl_" + "A" * 36 + "_x", "nsl_" + "A" * 36),
        ("nsl_abc_" + "~" * 512, "nsl_abc"),
        ("nsl_abc_with_many_underscores", "nsl_abc"),
    ],
    ids=["generated-shape", "shortest", "longest-id", "longest-secret", "underscores-in-secret"],
)
def test_split_key_returns_the_lookup_prefix(plaintext: str, prefix: str) -> None:
    assert split_key(plaintext) == prefix


@pytest.mark.parametrize(
    "plaintext",
    [
        "",
        "nsl",
        "nsl_",
        "nsl_abc",
        "nsl__secret",
        "nsl_abc_",
        "NSL_abc_secret",
        "xyz_abc_secret",
        "nslabc_secret",
        "nsl_ab-c_secret",
        "nsl_" + "A" * 37 + "_secret",
        "nsl_abc_" + "x" * 513,
        "nsl_abc_sec ret",
        "nsl_abc_sec\x00ret",
        "nsl_abc_sécret",
        "nsl_äbc_secret",
        " nsl_abc_secret",
    ],
    ids=[
        "empty",
        "word",
        "prefix-only",
        "no-secret",
        "empty-id",
        "empty-secret",
        "upper-case-prefix",
        "other-prefix",
        "missing-separator",
        "dash-in-id",
        "id-too-long",
        "secret-too-long",
        "space",
        "nul",
        "non-ascii-secret",
        "non-ascii-id",
        "leading-space",
    ],
)
def test_split_key_refuses_malformed_keys(plaintext: str) -> None:
    with pytest.raises(Unauthenticated):
        split_key(plaintext)


def test_hash_is_sha256_of_the_whole_key() -> None:
    assert hash_secret("nsl_a_b") == hashlib.sha256(b"nsl_a_b").digest()
    assert hash_secret("nsl_a_b") != hash_secret("nsl_a_c")


def owner_of(account_id: str, *scopes: str) -> Principal:
    return Principal(account_id, Role.OWNER, scopes or ("*",), "key_owner", "api_key:key_owner")


async def new_account(db: Database, *, system: bool = False) -> Account:
    async with db.transaction() as session:
        return await create_account(session, "a", is_system=system)


async def test_generated_keys_are_unique_and_authenticate(db: Database) -> None:
    account = await new_account(db)
    async with db.transaction(account.id) as session:
        issued = [
            await api_keys.issue_for(
                session,
                owner_of(account.id),
                account_id=account.id,
                name="k",
                role=Role.VIEWER,
                scopes=["audit:read"],
                expires_at=None,
            )
            for _ in range(3)
        ]
    assert len({key.plaintext for key in issued}) == 3
    assert len({key.record.prefix for key in issued}) == 3
    async with db.session() as session:
        principal, expires_at = await api_keys.authenticate_key(session, issued[0].plaintext)
    assert principal == Principal(
        account.id, Role.VIEWER, ("audit:read",), issued[0].record.id, f"api_key:{issued[0].record.id}"
    )
    assert expires_at is None


async def test_a_key_is_created_with_the_callers_identity(db: Database) -> None:
    account = await new_account(db)
    async with db.transaction(account.id) as session:
        issued = await api_keys.issue_for(
            session,
            owner_of(account.id),
            account_id=account.id,
            name="k",
            role=Role.OWNER,
            scopes=["*"],
            expires_at=None,
        )
    assert issued.record.created_by == "api_key:key_owner"
    assert issued.record.secret_hash == hash_secret(issued.plaintext)


@pytest.mark.parametrize(
    ("caller_scopes", "requested", "error"),
    [
        (("*",), ["*"], None),
        (("keys:write",), ["keys:read"], None),
        (("keys:read",), ["keys:write"], MissingScope),
        (("keys:write",), ["*"], MissingScope),
        (("*",), ["nosuch:read"], ValidationFailed),
    ],
    ids=["all", "narrower", "wider-action", "wider-everything", "unknown"],
)
async def test_issue_for_never_grants_beyond_the_caller(
    db: Database, caller_scopes: tuple[str, ...], requested: list[str], error: type[Exception] | None
) -> None:
    account = await new_account(db)
    async with db.transaction(account.id) as session:
        call = api_keys.issue_for(
            session,
            owner_of(account.id, *caller_scopes),
            account_id=account.id,
            name="k",
            role=Role.DEVELOPER,
            scopes=requested,
            expires_at=None,
        )
        if error is None:
            assert (await call).record.scopes == requested
        else:
            with pytest.raises(error):
                await call


async def test_admin_keys_only_in_the_system_account(db: Database) -> None:
    tenant, system = await new_account(db), await new_account(db, system=True)
    async with db.transaction() as session:
        with pytest.raises(Forbidden):
            await _create(session, tenant.id, Role.ADMIN)
        with pytest.raises(NotFound):
            await _create(session, "acc_missing", Role.ADMIN)
        issued = await _create(session, system.id, Role.ADMIN)
    assert issued.record.role == "admin"


@pytest.mark.parametrize(
    ("plaintext", "ok"),
    [
        (PINNED, True),
        ("nsl_ops_short", False),
        ("not-a-key-" + "s" * 40, False),
        ("nsl_o-ps_" + "s" * 32, False),
    ],
    ids=["good", "short-secret", "bad-format", "bad-id"],
)
async def test_pinned_keys_must_be_well_formed_and_long(db: Database, plaintext: str, ok: bool) -> None:
    account = await new_account(db, system=True)
    async with db.transaction() as session:
        call = _create(session, account.id, Role.ADMIN, plaintext=plaintext)
        if ok:
            assert (await call).record.prefix == "nsl_ops"
        else:
            with pytest.raises(ValidationFailed):
                await call


async def test_past_expiry_is_refused(db: Database) -> None:
    account = await new_account(db)
    async with db.transaction() as session:
        with pytest.raises(ValidationFailed):
            await _create(session, account.id, Role.VIEWER, expires_at=utcnow() - timedelta(seconds=1))


async def test_authentication_failures(db: Database) -> None:
    account = await new_account(db)
    async with db.transaction(account.id) as session:
        good = await _create(session, account.id, Role.VIEWER)
        revoked = await _create(session, account.id, Role.VIEWER)
        await api_keys.revoke_key(session, revoked.record.id)
    async with db.session() as session:
        with pytest.raises(Unauthenticated):
            await api_keys.authenticate_key(session, good.plaintext + "x")
        with pytest.raises(CredentialRevoked):
            await api_keys.authenticate_key(session, revoked.plaintext)
        with pytest.raises(CredentialRevoked):
            await api_keys.ensure_usable(session, revoked.record.id)
        with pytest.raises(Unauthenticated):
            await api_keys.ensure_usable(session, "key_missing")
        assert await api_keys.ensure_usable(session, good.record.id) is None
    async with db.transaction() as session:
        (await session.get(Account, account.id)).disabled = True  # type: ignore[union-attr]
    async with db.session() as session:
        with pytest.raises(Unauthenticated):
            await api_keys.authenticate_key(session, good.plaintext)
        with pytest.raises(Unauthenticated):
            await api_keys.ensure_usable(session, good.record.id)


async def test_rotation_and_revocation_rules(db: Database) -> None:
    account = await new_account(db)
    caller = owner_of(account.id)
    async with db.transaction(account.id) as session:
        old = await _create(session, account.id, Role.OWNER)
        new = await api_keys.rotate_key(session, caller, old.record.id, timedelta(seconds=0))
        assert old.record.replaced_by == new.record.id
        with pytest.raises(Conflict):
            await api_keys.rotate_key(session, caller, old.record.id, timedelta(hours=1))
        developer = Principal(account.id, Role.DEVELOPER, ("*",), "key_dev", "api_key:key_dev")
        with pytest.raises(Forbidden):
            await api_keys.revoke_key(session, new.record.id, caller=developer)
        with pytest.raises(Forbidden):
            await api_keys.rotate_key(session, developer, new.record.id, timedelta(hours=1))
        assert (await api_keys.revoke_key(session, new.record.id, caller=caller)).revoked_at is not None
        with pytest.raises(NotFound):
            await api_keys.get_key(session, "key_missing")
    async with db.session() as session:
        with pytest.raises(CredentialExpired):
            await api_keys.authenticate_key(session, old.plaintext)

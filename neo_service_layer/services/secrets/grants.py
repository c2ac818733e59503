"""Grants: the functions and oracle requests that may use a secret, and what their enclave op resolves."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.enclave.opdefs.amk import SealedAmk
from neo_service_layer.enclave.opdefs.secrets import StoredVersion
from neo_service_layer.services.masterkeys.service import amk_version
from neo_service_layer.services.secrets.errors import SecretGrantExists, SecretGrantNotFound
from neo_service_layer.services.secrets.models import GranteeKind, Secret, SecretGrant, SecretVersion
from neo_service_layer.services.secrets.service import get_secret


async def grants_of(session: AsyncSession, secret: Secret) -> Sequence[SecretGrant]:
    """The secret's grants, oldest first."""
    return (
        (
            await session.execute(
                select(SecretGrant).where(SecretGrant.secret_id == secret.id).order_by(SecretGrant.id)
            )
        )
        .scalars()
        .all()
    )


async def find_grant(
    session: AsyncSession, secret: Secret, kind: GranteeKind, grantee: str
) -> SecretGrant | None:
    """The grant of the secret to ``grantee`` of ``kind``, or None."""
    return (
        await session.execute(
            select(SecretGrant).where(
                SecretGrant.secret_id == secret.id,
                SecretGrant.grantee_kind == kind,
                SecretGrant.grantee == grantee,
            )
        )
    ).scalar_one_or_none()


async def grant(
    session: AsyncSession, account_id: str, name: str, kind: GranteeKind, grantee: str
) -> SecretGrant:
    """Let the function or oracle request ``grantee`` use secret ``name``."""
    secret = await get_secret(session, name)
    if await find_grant(session, secret, kind, grantee) is not None:
        raise SecretGrantExists(f"secret {name} is already granted to {kind} {grantee}")
    row = SecretGrant(account_id=account_id, secret_id=secret.id, grantee_kind=kind, grantee=grantee)
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        raise SecretGrantExists(f"secret {name} is already granted to {kind} {grantee}") from None
    return row


async def revoke_grant(session: AsyncSession, name: str, kind: GranteeKind, grantee: str) -> None:
    """Take the grant back; SecretGrantNotFound if there is none."""
    secret = await get_secret(session, name)
    row = await find_grant(session, secret, kind, grantee)
    if row is None:
        raise SecretGrantNotFound(f"secret {name} is not granted to {kind} {grantee}")
    await session.delete(row)
    await session.flush()


async def granted_records(
    session: AsyncSession, account_id: str, kind: GranteeKind, grantee: str
) -> list[StoredVersion]:
    """The stored current versions of the secrets granted to ``grantee``, for the enclave to resolve.

    Later services (functions, oracle) pass these to their enclave op, which calls
    ``enclave.handlers.secrets.resolve_secrets``; deleted or destroyed current versions are skipped.
    """
    rows = (
        await session.execute(
            select(Secret, SecretVersion)
            .join(SecretGrant, SecretGrant.secret_id == Secret.id)
            .join(
                SecretVersion,
                (SecretVersion.secret_id == Secret.id) & (SecretVersion.version == Secret.current_version),
            )
            .where(
                Secret.account_id == account_id,
                SecretGrant.grantee_kind == kind,
                SecretGrant.grantee == grantee,
                SecretVersion.destroyed.is_(False),
                SecretVersion.deleted_at.is_(None),
            )
            .order_by(Secret.name)
        )
    ).all()
    records: list[StoredVersion] = []
    for secret, row in rows:
        if row.ciphertext is None or row.wrapped_dek is None:  # destroyed meanwhile
            continue
        amk = await amk_version(session, account_id, row.amk_version)
        records.append(
            StoredVersion(
                secret_id=secret.id,
                name=secret.name,
                version=row.version,
                ciphertext=row.ciphertext,
                wrapped_dek=row.wrapped_dek,
                amk=SealedAmk(version=amk.version, sealed=amk.sealed),
                allowed_hosts=row.allowed_hosts or [],
            )
        )
    return records

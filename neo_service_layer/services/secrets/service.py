"""Secrets: versioned values (Vault KV v2 semantics), envelope-encrypted inside the enclave.

This process never sees a value: writes carry a value sealed to the enclave's transport key, which the
enclave opens and encrypts under a fresh data key wrapped by the account master key; reads return the
value sealed to the reader's X25519 key (docs/secrets.md). What is stored here is ciphertext, the
wrapped data key and metadata.

Concurrency. Every change to a secret's versions is serialized on its ``secrets`` row: a write bumps
``current_version`` with a conditional ``UPDATE … WHERE current_version = <read>`` (on PostgreSQL a
concurrent writer blocks on the row lock, then re-checks the condition and matches nothing; SQLite
runs one write transaction at a time), a creation relies on the ``(account_id, name)`` unique
constraint, and deletes lock the row (``SELECT … FOR UPDATE``) first. So two writes of the same version
never both win: the loser gets ``secret_cas_mismatch``. A loser never retries as the next version: its
value was sealed to replace the version that was current, and the enclave takes it for no other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.db.base import new_id, utcnow
from neo_service_layer.enclave.client import EnclaveClient, Signed
from neo_service_layer.enclave.opdefs.amk import SealedAmk
from neo_service_layer.enclave.opdefs.secrets import (
    ENCRYPT,
    READ,
    EncryptArgs,
    EncryptResult,
    ReadArgs,
    ReadResult,
    StoredVersion,
)
from neo_service_layer.errors import (
    EnclaveCryptoFailed,
    EnclavePreconditionFailed,
    RecipientKeyInvalid,
    RecipientKeyRequired,
    SealedValueInvalid,
    SealedValueStale,
    SecretCasMismatch,
    SecretCasRequired,
    SecretGrantExists,
    SecretGrantNotFound,
    SecretNotFound,
    SecretVersionDeleted,
    SecretVersionDestroyed,
    SecretVersionNotFound,
)
from neo_service_layer.services.masterkeys.service import amk_version, latest_amk
from neo_service_layer.services.secrets.models import Secret, SecretGrant, SecretVersion

SECRET_ID_PREFIX: Final = "sec"  # noqa: S105 - an id prefix
_X25519_HEX_DIGITS: Final = 64


@dataclass(frozen=True, slots=True)
class Written:
    secret: Secret
    version: SecretVersion
    created: bool


async def find_secret(session: AsyncSession, name: str, *, lock: bool = False) -> Secret | None:
    statement = select(Secret).where(Secret.name == name).execution_options(populate_existing=True)
    if lock:
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


async def get_secret(session: AsyncSession, name: str, *, lock: bool = False) -> Secret:
    """The secret ``name`` of the session's account, or SecretNotFound (also for other accounts')."""
    secret = await find_secret(session, name, lock=lock)
    if secret is None:
        raise SecretNotFound(f"secret {name} not found")
    return secret


async def versions_of(session: AsyncSession, secret: Secret) -> Sequence[SecretVersion]:
    return (
        (
            await session.execute(
                select(SecretVersion)
                .where(SecretVersion.secret_id == secret.id)
                .order_by(SecretVersion.version)
                .execution_options(populate_existing=True)
            )
        )
        .scalars()
        .all()
    )


def _check_cas(secret: Secret | None, name: str, cas: int | None) -> None:
    current = secret.current_version if secret is not None else 0
    if secret is not None and secret.cas_required and cas is None:
        raise SecretCasRequired(
            f"secret {name} requires check-and-set: give cas={current} to replace v{current}"
        )
    if cas is not None and cas != current:
        raise SecretCasMismatch(
            f"check-and-set failed: secret {name} is at version {current}, not {cas}",
            current_version=current,
        )


async def write(
    session: AsyncSession,
    enclave: EnclaveClient,
    account_id: str,
    name: str,
    sealed_value: bytes,
    *,
    cas: int | None,
    default_max_versions: int,
) -> Written:
    """Store a new version of ``name`` (created at version 1 if absent) from a sealed value.

    ``cas``: the version expected to be current (0: the secret must not exist); required when the
    secret says so. Whatever ``cas`` says, the sealed value names the version it replaces and the
    enclave refuses it for any other (SealedValueStale: a replay, or a value sealed before another
    write landed). The oldest versions beyond ``max_versions`` are destroyed (their rows removed).
    """
    secret = await find_secret(session, name)
    _check_cas(secret, name, cas)
    secret_id = secret.id if secret is not None else new_id(SECRET_ID_PREFIX)
    current = secret.current_version if secret is not None else 0
    encrypted = await _encrypt(session, enclave, account_id, secret_id, name, current, sealed_value)
    version, created = current + 1, secret is None
    if secret is None:
        secret = Secret(
            id=secret_id,
            account_id=account_id,
            name=name,
            current_version=version,
            max_versions=default_max_versions,
            cas_required=False,
        )
        try:
            # A savepoint: a concurrent creation of the same name fails here, not at commit.
            async with session.begin_nested():
                session.add(secret)
                await session.flush()
        except IntegrityError:
            raise SecretCasMismatch(
                f"check-and-set failed: secret {name} was created concurrently", current_version=version
            ) from None
    elif not await _bump(session, secret, version):
        # The value was sealed to replace ``current``, which is no longer current: it cannot land.
        raise SecretCasMismatch(f"check-and-set failed: secret {name} changed concurrently")
    row = SecretVersion(
        account_id=account_id,
        secret_id=secret_id,
        version=version,
        ciphertext=encrypted.ciphertext,
        wrapped_dek=encrypted.wrapped_dek,
        amk_version=encrypted.amk_version,
        destroyed=False,
    )
    session.add(row)
    await session.flush()
    await prune(session, secret)
    return Written(secret, row, created)


async def _encrypt(
    session: AsyncSession,
    enclave: EnclaveClient,
    account_id: str,
    secret_id: str,
    name: str,
    current: int,
    sealed_value: bytes,
) -> EncryptResult:
    """The next version (``current + 1``) encrypted in the enclave, if the value was sealed for it."""
    amk = await latest_amk(session, enclave, account_id)
    args = EncryptArgs(
        account_id=account_id,
        secret_id=secret_id,
        name=name,
        version=current + 1,
        amk=SealedAmk(version=amk.version, sealed=amk.sealed),
        sealed_value=sealed_value,
    )
    try:
        return await enclave.run(ENCRYPT, args)
    except EnclaveCryptoFailed as exc:
        # The only input the caller controls is the sealed value; the detail names no value.
        raise SealedValueInvalid(exc.detail) from exc
    except EnclavePreconditionFailed as exc:
        raise SealedValueStale(
            f"{exc.detail}: secret {name} is at version {current}; seal the value again with cas={current}",
            current_version=current,
        ) from exc


async def _bump(session: AsyncSession, secret: Secret, version: int) -> bool:
    """Move ``current_version`` to ``version`` if it is still ``version - 1``; False if it moved."""
    result = await session.execute(
        update(Secret)
        .where(Secret.id == secret.id, Secret.current_version == version - 1)
        .values(current_version=version, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        return False
    await session.refresh(secret)
    return True


async def prune(session: AsyncSession, secret: Secret) -> None:
    """Remove the versions older than the newest ``max_versions`` (ciphertext and data key with them)."""
    await session.execute(
        delete(SecretVersion)
        .where(
            SecretVersion.secret_id == secret.id,
            SecretVersion.version <= secret.current_version - secret.max_versions,
        )
        .execution_options(synchronize_session=False)
    )


def check_recipient(recipient: str | None) -> str:
    """The recipient key as the enclave takes it, or RecipientKeyRequired / RecipientKeyInvalid."""
    if recipient is None or recipient == "":
        raise RecipientKeyRequired("give X-NSL-Recipient-Key (or ?recipient=): the value is sealed to it")
    key = recipient.lower()
    if len(key) != _X25519_HEX_DIGITS or any(c not in "0123456789abcdef" for c in key) or int(key, 16) == 0:
        raise RecipientKeyInvalid("the recipient key must be a 32-byte X25519 public key in hex")
    return key


def _readable(row: SecretVersion | None, name: str, version: int) -> tuple[SecretVersion, bytes, bytes]:
    """The row with its ciphertext and wrapped DEK, or the error that says why it cannot be read."""
    if row is None:
        raise SecretVersionNotFound(f"secret {name} has no version {version}", version=version)
    if row.destroyed or row.ciphertext is None or row.wrapped_dek is None:
        raise SecretVersionDestroyed(f"version {version} of secret {name} is destroyed", version=version)
    if row.deleted_at is not None:
        raise SecretVersionDeleted(f"version {version} of secret {name} is deleted", version=version)
    return row, row.ciphertext, row.wrapped_dek


async def read(
    session: AsyncSession,
    enclave: EnclaveClient,
    account_id: str,
    name: str,
    recipient: str,
    version: int | None = None,
) -> Signed[ReadResult]:
    """The value of ``version`` (default: the current one), sealed by the enclave to ``recipient``."""
    secret = await get_secret(session, name)
    number = version if version is not None else secret.current_version
    row = (
        await session.execute(
            select(SecretVersion).where(SecretVersion.secret_id == secret.id, SecretVersion.version == number)
        )
    ).scalar_one_or_none()
    row, ciphertext, wrapped_dek = _readable(row, name, number)
    amk = await amk_version(session, account_id, row.amk_version)
    args = ReadArgs(
        account_id=account_id,
        secret_id=secret.id,
        name=name,
        version=number,
        recipient=recipient,
        amk=SealedAmk(version=amk.version, sealed=amk.sealed),
        ciphertext=ciphertext,
        wrapped_dek=wrapped_dek,
    )
    try:
        return await enclave.run(READ, args)
    except EnclaveCryptoFailed as exc:
        raise RecipientKeyInvalid(exc.detail) from exc


async def update_metadata(
    session: AsyncSession, name: str, *, max_versions: int | None, cas_required: bool | None
) -> Secret:
    secret = await get_secret(session, name, lock=True)
    if max_versions is not None:
        secret.max_versions = max_versions
    if cas_required is not None:
        secret.cas_required = cas_required
    secret.updated_at = utcnow()
    await session.flush()
    await prune(session, secret)
    return secret


async def _versions_for_change(
    session: AsyncSession, name: str, versions: Sequence[int]
) -> tuple[Secret, list[SecretVersion]]:
    secret = await get_secret(session, name, lock=True)
    wanted = sorted(set(versions))
    rows = {row.version: row for row in await versions_of(session, secret) if row.version in wanted}
    missing = [v for v in wanted if v not in rows]
    if missing:
        raise SecretVersionNotFound(
            f"secret {name} has no version {', '.join(map(str, missing))}", versions=missing
        )
    return secret, [rows[v] for v in wanted]


async def soft_delete(session: AsyncSession, name: str, versions: Sequence[int]) -> list[SecretVersion]:
    """Mark versions deleted (reads refuse them; undelete restores them). Idempotent."""
    _, rows = await _versions_for_change(session, name, versions)
    now = utcnow()
    for row in rows:
        if row.deleted_at is None and not row.destroyed:
            row.deleted_at = now
    await session.flush()
    return rows


async def undelete(session: AsyncSession, name: str, versions: Sequence[int]) -> list[SecretVersion]:
    """Restore soft-deleted versions; destroyed ones stay destroyed. Idempotent."""
    _, rows = await _versions_for_change(session, name, versions)
    for row in rows:
        if not row.destroyed:
            row.deleted_at = None
    await session.flush()
    return rows


async def destroy(session: AsyncSession, name: str, versions: Sequence[int]) -> list[SecretVersion]:
    """Erase versions' ciphertext and wrapped data key for good (metadata stays). Idempotent."""
    _, rows = await _versions_for_change(session, name, versions)
    now = utcnow()
    for row in rows:
        row.ciphertext = None
        row.wrapped_dek = None
        row.destroyed = True
        row.deleted_at = row.deleted_at or now
    await session.flush()
    return rows


async def delete_secret(session: AsyncSession, name: str) -> Secret:
    """Remove the secret, every version (ciphertext and data keys) and its grants."""
    secret = await get_secret(session, name, lock=True)
    for model in (SecretVersion, SecretGrant):
        await session.execute(
            delete(model).where(model.secret_id == secret.id).execution_options(synchronize_session=False)
        )
    await session.delete(secret)
    await session.flush()
    return secret


async def grants_of(session: AsyncSession, secret: Secret) -> Sequence[SecretGrant]:
    return (
        (
            await session.execute(
                select(SecretGrant).where(SecretGrant.secret_id == secret.id).order_by(SecretGrant.id)
            )
        )
        .scalars()
        .all()
    )


async def find_grant(session: AsyncSession, secret: Secret, kind: str, grantee: str) -> SecretGrant | None:
    return (
        await session.execute(
            select(SecretGrant).where(
                SecretGrant.secret_id == secret.id,
                SecretGrant.grantee_kind == kind,
                SecretGrant.grantee == grantee,
            )
        )
    ).scalar_one_or_none()


async def grant(session: AsyncSession, account_id: str, name: str, kind: str, grantee: str) -> SecretGrant:
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


async def revoke_grant(session: AsyncSession, name: str, kind: str, grantee: str) -> None:
    secret = await get_secret(session, name)
    row = await find_grant(session, secret, kind, grantee)
    if row is None:
        raise SecretGrantNotFound(f"secret {name} is not granted to {kind} {grantee}")
    await session.delete(row)
    await session.flush()


async def granted_records(
    session: AsyncSession, account_id: str, kind: str, grantee: str
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
            )
        )
    return records

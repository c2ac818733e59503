"""A secret's versions: values written and read through the enclave, deleted, undeleted, destroyed.

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

from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.db.base import utcnow
from neo_service_layer.enclave.client import EnclaveClient, Signed
from neo_service_layer.enclave.opdefs.amk import SealedAmk
from neo_service_layer.enclave.opdefs.secrets import (
    ENCRYPT,
    READ,
    EncryptArgs,
    EncryptResult,
    ReadArgs,
    ReadResult,
)
from neo_service_layer.errors import EnclaveCryptoFailed, EnclavePreconditionFailed
from neo_service_layer.ids import IdPrefix, new_id
from neo_service_layer.services.masterkeys.service import amk_version, latest_amk
from neo_service_layer.services.secrets.errors import (
    RecipientKeyInvalid,
    RecipientKeyRequired,
    SealedValueInvalid,
    SealedValueStale,
    SecretCasMismatch,
    SecretCasRequired,
    SecretVersionDeleted,
    SecretVersionDestroyed,
    SecretVersionNotFound,
)
from neo_service_layer.services.secrets.models import Secret, SecretVersion
from neo_service_layer.services.secrets.service import find_secret, get_secret, prune, versions_of

_X25519_HEX_DIGITS: Final = 64


@dataclass(frozen=True, slots=True)
class Written:
    """A stored write: the secret, its new version, and whether the write created the secret."""

    secret: Secret
    version: SecretVersion
    created: bool


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
    secret_id = secret.id if secret is not None else new_id(IdPrefix.SECRET)
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
        allowed_hosts=encrypted.allowed_hosts or None,
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
        allowed_hosts=row.allowed_hosts or [],
    )
    try:
        return await enclave.run(READ, args)
    except EnclaveCryptoFailed as exc:
        raise RecipientKeyInvalid(exc.detail) from exc


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

"""The keys service: key lifecycle (create, rotate, policy, states, deletion) on the host.

Everything that touches key material happens in the enclave (``operations.py`` calls it); this module
only reads and writes the policy rows and the wrapped versions. Sessions are tenant-scoped (the API's
unit of work), so another account's key is simply not found (404).

Deletion (AWS KMS ``ScheduleKeyDeletion``): a key is scheduled 7-30 days ahead (default 30) and
refuses every operation meanwhile; cancelling puts it back as *disabled* (as KMS does), to be enabled
explicitly. Once the date has passed the key is gone at once for every read (the queries here filter
it out: 404), and the worker's ``keys.purge`` job (``purge.py``) deletes its rows — wrapped material
included — on its next run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.db.base import utcnow
from neo_service_layer.enclave.client import EnclaveClient
from neo_service_layer.enclave.crypto.keytypes import KeyType
from neo_service_layer.enclave.opdefs.amk import SealedAmk
from neo_service_layer.enclave.opdefs.keys import GENERATE, GenerateArgs
from neo_service_layer.ids import IdPrefix, new_id
from neo_service_layer.services.keys import policy
from neo_service_layer.services.keys.errors import (
    InvalidKeyPolicy,
    KeyNameTaken,
    KeyNotFound,
    KeyPendingDeletion,
)
from neo_service_layer.services.keys.models import Key, KeyState, KeyVersion
from neo_service_layer.services.keys.policy import Operation
from neo_service_layer.services.keys.reserved import require_reachable
from neo_service_layer.services.masterkeys.service import latest_amk


def not_deleted(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """Keys whose deletion date has not passed (the others no longer exist for reads).

    On the table's columns, so that a Core statement (``operations.use``) can use it too; ``now`` may be
    a bound parameter there.
    """
    keys = Key.__table__.c
    return or_(
        keys.state != KeyState.PENDING_DELETION, keys.deletion_date.is_(None), keys.deletion_date > now
    )


def list_statement(now: datetime | None = None) -> Select[Key]:
    """The account's keys (the session adds the account filter), without deleted ones."""
    return select(Key).where(not_deleted(now or utcnow()))


async def get_key(
    session: AsyncSession, key_id: str, *, now: datetime | None = None, metadata_only: bool = False
) -> Key:
    """The key ``key_id`` of the session's account; KeyNotFound if absent, another account's or deleted.

    Every use or change of a key loads it here, so this is where a reserved key (``reserved.py``) is
    refused to any session but the platform's; ``metadata_only`` reads (policy, public key) pass.
    """
    key = (
        await session.execute(select(Key).where(Key.id == key_id, not_deleted(now or utcnow())))
    ).scalar_one_or_none()
    if key is None:
        raise KeyNotFound(f"no key {key_id}", key_id=key_id)
    if not metadata_only:
        require_reachable(session, key.name, key.id)
    return key


async def versions(session: AsyncSession, key: Key) -> Sequence[KeyVersion]:
    """The key's versions, oldest first."""
    statement = select(KeyVersion).where(KeyVersion.key_id == key.id).order_by(KeyVersion.version)
    return (await session.execute(statement)).scalars().all()


async def _generate_version(
    session: AsyncSession, enclave: EnclaveClient, account_id: str, key: Key, version: int
) -> KeyVersion:
    amk = await latest_amk(session, enclave, account_id)
    generated = await enclave.run(
        GENERATE,
        GenerateArgs(
            account_id=account_id,
            key_id=key.id,
            version=version,
            key_type=key.type,
            amk=SealedAmk(version=amk.version, sealed=amk.sealed),
        ),
    )
    return KeyVersion(
        account_id=account_id,
        key_id=key.id,
        version=version,
        wrapped_material=generated.wrapped,
        amk_version=amk.version,
        public_key=generated.public_key,
    )


async def _name_taken(session: AsyncSession, name: str) -> bool:
    return (await session.execute(select(Key.id).where(Key.name == name))).first() is not None


async def create_key(
    session: AsyncSession,
    enclave: EnclaveClient,
    account_id: str,
    *,
    name: str,
    key_type: KeyType,
    exportable: bool = False,
    allowed: Sequence[Operation] | None = None,
) -> tuple[Key, KeyVersion]:
    """A new key with version 1 generated in the enclave. KeyNameTaken if the name is in use."""
    require_reachable(session, name)
    operations = policy.allowed_operations(key_type, allowed)
    if await _name_taken(session, name):
        raise KeyNameTaken(f"the account already has a key named {name!r}", name=name)
    now = utcnow()
    key = Key(
        id=new_id(IdPrefix.KEY),
        account_id=account_id,
        name=name,
        type=key_type,
        state=KeyState.ENABLED,
        latest_version=1,
        min_decryption_version=1,
        min_encryption_version=0,
        exportable=exportable,
        allowed_operations=[op.value for op in operations],
        deletion_date=None,
        created_at=now,
        updated_at=now,
    )
    version = await _generate_version(session, enclave, account_id, key, 1)
    try:
        # A savepoint: a concurrent create of the same name loses on the unique constraint here.
        async with session.begin_nested():
            session.add(key)
            await session.flush()
            session.add(version)
            await session.flush()
    except IntegrityError as exc:
        raise KeyNameTaken(f"the account already has a key named {name!r}", name=name) from exc
    return key, version


def _check_not_pending(key: Key) -> None:
    if key.state == KeyState.PENDING_DELETION:
        raise KeyPendingDeletion(
            f"key {key.id} is scheduled for deletion; cancel the deletion first", key_id=key.id
        )


async def rotate(session: AsyncSession, enclave: EnclaveClient, account_id: str, key_id: str) -> KeyVersion:
    """Add the next version (it becomes the latest); older versions keep decrypting and verifying."""
    key = await get_key(session, key_id)
    _check_not_pending(key)
    version = await _generate_version(session, enclave, account_id, key, key.latest_version + 1)
    # A concurrent rotation of the same key fails on uq_key_versions_key_version (a 409 from the API).
    session.add(version)
    key.latest_version = version.version
    key.updated_at = utcnow()
    await session.flush()
    return version


async def update_policy(
    session: AsyncSession,
    key_id: str,
    *,
    min_decryption_version: int | None = None,
    min_encryption_version: int | None = None,
    allowed: Sequence[Operation] | None = None,
    exportable: bool | None = None,
) -> Key:
    """Change the minimum versions (rules in ``policy``), allowed operations or exportability."""
    key = await get_key(session, key_id)
    min_dec = key.min_decryption_version if min_decryption_version is None else min_decryption_version
    min_enc = key.min_encryption_version if min_encryption_version is None else min_encryption_version
    policy.check_min_versions(key, min_dec, min_enc)
    if exportable is False and key.exportable:
        # As Vault: once exportable, always exportable (a backup may already exist).
        raise InvalidKeyPolicy("an exportable key cannot be made non-exportable")
    key.min_decryption_version = min_dec
    key.min_encryption_version = min_enc
    if allowed is not None:
        key.allowed_operations = [op.value for op in policy.allowed_operations(key.type, allowed)]
    if exportable is not None:
        key.exportable = exportable
    key.updated_at = utcnow()
    await session.flush()
    return key


async def set_enabled(session: AsyncSession, key_id: str, enabled: bool) -> Key:
    """Enable or disable a key (idempotent); a key pending deletion must be cancelled first."""
    key = await get_key(session, key_id)
    _check_not_pending(key)
    key.state = KeyState.ENABLED if enabled else KeyState.DISABLED
    key.updated_at = utcnow()
    await session.flush()
    return key


async def schedule_deletion(
    session: AsyncSession, key_id: str, pending_days: int, *, now: datetime | None = None
) -> Key:
    """Schedule deletion ``pending_days`` (7-30) from now; the key refuses every operation meanwhile."""
    if not policy.MIN_PENDING_DAYS <= pending_days <= policy.MAX_PENDING_DAYS:
        raise InvalidKeyPolicy(
            f"pending_days must be within {policy.MIN_PENDING_DAYS}..{policy.MAX_PENDING_DAYS}"
        )
    now = now or utcnow()
    key = await get_key(session, key_id, now=now)
    _check_not_pending(key)
    key.state = KeyState.PENDING_DELETION
    key.deletion_date = now + timedelta(days=pending_days)
    key.updated_at = now
    await session.flush()
    return key


async def cancel_deletion(session: AsyncSession, key_id: str) -> Key:
    """Cancel a scheduled deletion; the key comes back disabled (AWS KMS ``CancelKeyDeletion``)."""
    key = await get_key(session, key_id)
    if key.state != KeyState.PENDING_DELETION:
        return key  # nothing to cancel: idempotent
    key.state = KeyState.DISABLED
    key.deletion_date = None
    key.updated_at = utcnow()
    await session.flush()
    return key

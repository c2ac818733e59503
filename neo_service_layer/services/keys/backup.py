"""Sealed backup and restore of a key, to the same account only; and public-key export.

A backup holds every version's material encrypted under a key derived (HKDF) from one of the
account's master keys, with the account id and key id bound as AEAD additional data (the format is in
``enclave/opdefs/keys.py``). So a backup

- restores only into the account that made it (another account's AMKs cannot open it: 422
  ``invalid_backup``), under the same key id, so that its old ciphertexts still decrypt;
- survives AMK rotation: its header names the AMK version it was made with, and rotation keeps old
  AMK versions (it only rewraps what they wrap), so the restore opens it with that version and wraps
  the material under the latest one;
- exists only for keys created ``exportable`` (409 ``key_not_exportable`` otherwise).

Restoring a key that still exists — enabled, disabled or pending deletion — is a 409 ``key_exists``
(cancel the deletion instead); a key whose deletion date has passed can be restored.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.db.base import utcnow
from neo_service_layer.enclave.client import EnclaveClient
from neo_service_layer.enclave.crypto.keytypes import KeyType
from neo_service_layer.enclave.opdefs.amk import SealedAmk
from neo_service_layer.enclave.opdefs.keys import (
    BACKUP,
    RESTORE,
    BackupArgs,
    RestoreArgs,
    WrappedVersion,
    parse_backup_header,
)
from neo_service_layer.errors import EnclaveCryptoFailed
from neo_service_layer.ids import ID_PATTERN
from neo_service_layer.services.keys import policy
from neo_service_layer.services.keys.errors import (
    InvalidBackup,
    InvalidKeyVersion,
    KeyDisabled,
    KeyExists,
    KeyNameTaken,
    KeyNotExportable,
    KeyOperationUnsupported,
    KeyPendingDeletion,
)
from neo_service_layer.services.keys.models import Key, KeyState, KeyVersion
from neo_service_layer.services.keys.policy import Operation
from neo_service_layer.services.keys.reserved import require_reachable
from neo_service_layer.services.keys.service import get_key, versions
from neo_service_layer.services.masterkeys.models import AccountMasterKey
from neo_service_layer.services.masterkeys.service import latest_amk

_KEY_ID = re.compile(ID_PATTERN)


def _check_state(key: Key) -> None:
    if key.state == KeyState.DISABLED:
        raise KeyDisabled(f"key {key.id} is disabled; enable it first", key_id=key.id)
    if key.state == KeyState.PENDING_DELETION:
        raise KeyPendingDeletion(f"key {key.id} is scheduled for deletion", key_id=key.id)


async def public_key(session: AsyncSession, key_id: str, version: int | None) -> tuple[Key, KeyVersion]:
    """The key and its version ``version`` (default latest) for public-key export."""
    key = await get_key(session, key_id, metadata_only=True)
    _check_state(key)
    if not key.type.is_asymmetric:
        raise KeyOperationUnsupported(f"key type {key.type} has no public key")
    number = key.latest_version if version is None else version
    row = (
        await session.execute(
            select(KeyVersion).where(KeyVersion.key_id == key.id, KeyVersion.version == number)
        )
    ).scalar_one_or_none()
    if row is None or row.public_key is None:
        raise InvalidKeyVersion(f"key {key.id} has no version {number}", version=number)
    return key, row


def _policy_of(key: Key) -> dict[str, Any]:
    return {
        "name": key.name,
        "exportable": key.exportable,
        "allowed_operations": list(key.allowed_operations),
        "min_decryption_version": key.min_decryption_version,
        "min_encryption_version": key.min_encryption_version,
    }


async def backup(session: AsyncSession, enclave: EnclaveClient, account_id: str, key_id: str) -> bytes:
    """The sealed backup of every version of an exportable key."""
    key = await get_key(session, key_id)
    _check_state(key)
    if not key.exportable:
        raise KeyNotExportable(f"key {key.id} was not created exportable", key_id=key.id)
    rows = await versions(session, key)
    amks = (await session.execute(select(AccountMasterKey))).scalars().all()
    used = {row.amk_version for row in rows}
    target = await latest_amk(session, enclave, account_id)
    result = await enclave.run(
        BACKUP,
        BackupArgs(
            account_id=account_id,
            key_id=key.id,
            key_type=key.type,
            policy=_policy_of(key),
            target=SealedAmk(version=target.version, sealed=target.sealed),
            amks=[SealedAmk(version=a.version, sealed=a.sealed) for a in amks if a.version in used],
            versions=[
                WrappedVersion(version=r.version, amk_version=r.amk_version, material=r.wrapped_material)
                for r in rows
            ],
        ),
    )
    return result.backup


def _restored_policy(key_type: KeyType, data: dict[str, Any], latest: int) -> dict[str, Any]:
    try:
        name = data["name"]
        exportable = data["exportable"]
        allowed = [Operation(op) for op in data["allowed_operations"]]
        min_dec = data["min_decryption_version"]
        min_enc = data["min_encryption_version"]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidBackup("the backup's policy is not valid") from exc
    if not (isinstance(name, str) and isinstance(exportable, bool) and isinstance(min_dec, int)):
        raise InvalidBackup("the backup's policy is not valid")
    if not (isinstance(min_enc, int) and 1 <= min_dec <= latest and 0 <= min_enc <= latest):
        raise InvalidBackup("the backup's policy is not valid")
    return {
        "name": name,
        "exportable": exportable,
        "allowed_operations": [op.value for op in policy.allowed_operations(key_type, allowed)],
        "min_decryption_version": min_dec,
        "min_encryption_version": min_enc,
    }


async def restore(session: AsyncSession, enclave: EnclaveClient, account_id: str, blob: bytes) -> Key:
    """Recreate a backed-up key, with its id, versions and policy, in the account that backed it up."""
    try:
        amk_version, key_id, _ = parse_backup_header(blob)
    except ValueError as exc:
        raise InvalidBackup(f"not a key backup: {exc}") from exc
    if not _KEY_ID.fullmatch(key_id):
        raise InvalidBackup("not a key backup: bad key id")
    existing = (await session.execute(select(Key).where(Key.id == key_id))).scalar_one_or_none()
    now = utcnow()
    if existing is not None and not policy.is_deleted(existing, now):
        raise KeyExists(f"key {key_id} exists; a backup only restores a deleted key", key_id=key_id)
    source = (
        await session.execute(select(AccountMasterKey).where(AccountMasterKey.version == amk_version))
    ).scalar_one_or_none()
    if source is None:
        raise InvalidBackup("the backup was not made in this account")
    target = await latest_amk(session, enclave, account_id)
    try:
        result = await enclave.run(
            RESTORE,
            RestoreArgs(
                account_id=account_id,
                key_id=key_id,
                backup=blob,
                source=SealedAmk(version=source.version, sealed=source.sealed),
                target=SealedAmk(version=target.version, sealed=target.sealed),
            ),
        )
    except EnclaveCryptoFailed as exc:
        raise InvalidBackup("the backup does not open in this account (other account's, or damaged)") from exc
    latest = max((v.version for v in result.versions), default=0)
    if latest < 1 or sorted(v.version for v in result.versions) != list(range(1, latest + 1)):
        raise InvalidBackup("the backup's versions are not 1..n")
    restored_policy = _restored_policy(result.key_type, result.policy, latest)
    require_reachable(session, restored_policy["name"], key_id)
    if existing is not None:  # deleted (its date has passed) but not yet purged: purge it now
        await session.execute(delete(KeyVersion).where(KeyVersion.key_id == key_id))
        await session.delete(existing)
        await session.flush()
    taken = (
        await session.execute(select(Key.id).where(Key.name == restored_policy["name"], Key.id != key_id))
    ).first()
    if taken is not None:
        raise KeyNameTaken(f"the account already has a key named {restored_policy['name']!r}")
    key = Key(
        id=key_id,
        account_id=account_id,
        type=result.key_type,
        state=KeyState.ENABLED,
        latest_version=latest,
        deletion_date=None,
        created_at=now,
        updated_at=now,
        **restored_policy,
    )
    session.add(key)
    await session.flush()
    for item in result.versions:
        session.add(
            KeyVersion(
                account_id=account_id,
                key_id=key_id,
                version=item.version,
                wrapped_material=item.wrapped,
                amk_version=target.version,
                public_key=item.public_key,
            )
        )
    await session.flush()
    return key

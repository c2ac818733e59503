"""The keys service on a real database and a real enclave: lifecycle, AMK rotation of key versions,
deletion dates and the purge, tenant scoping below the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import Account
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.crypto import keys as crypto_keys
from neo_service_layer.enclave.crypto.keytypes import HashAlgorithm, KeyType, SignatureFormat
from neo_service_layer.enclave.crypto.signing import verify
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.services.keys import operations, policy, service
from neo_service_layer.services.keys.errors import (
    InvalidKeyPolicy,
    InvalidKeyVersion,
    KeyDisabled,
    KeyNameTaken,
    KeyNotFound,
    KeyPendingDeletion,
)
from neo_service_layer.services.keys.models import Key, KeyState, KeyVersion
from neo_service_layer.services.keys.policy import Operation
from neo_service_layer.services.keys.purge import purge_deleted_keys
from neo_service_layer.services.keys.rewrap_source import KeyVersionSource
from neo_service_layer.services.masterkeys import service as masterkeys
from tests.conftest import recorded_statements
from tests.keys_helpers import private_material

ACME, GLOBEX = "acc_01ACME", "acc_01GLOBEX"


@pytest.fixture
async def accounts(db: Database) -> None:
    async with db.transaction() as session:
        session.add_all([Account(id=ACME, name="acme"), Account(id=GLOBEX, name="globex")])


async def _create(
    db: Database, enclave: UnixEnclaveClient, account: str, name: str, key_type: KeyType
) -> Key:
    async with db.transaction(account) as session:
        key, _ = await service.create_key(session, enclave, account, name=name, key_type=key_type)
    return key


async def test_amk_rotation_moves_every_version_and_keys_still_sign(
    db: Database, enclave: UnixEnclaveClient, enclave_server: EnclaveServer, accounts: None
) -> None:
    key = await _create(db, enclave, ACME, "signer", KeyType.SECP256K1)
    async with db.transaction(ACME) as session:
        await service.rotate(session, enclave, ACME, key.id)
    before = [await private_material(db, enclave_server.ctx, ACME, key.id, v) for v in (1, 2)]
    other = await _create(db, enclave, GLOBEX, "theirs", KeyType.ED25519)

    async with db.transaction(ACME) as session:
        target, moved = await masterkeys.rotate(session, enclave, ACME, [KeyVersionSource()])
    assert (target.version, moved) == (2, 2)
    async with db.session() as session:
        rows = (await session.execute(select(KeyVersion).order_by(KeyVersion.id))).scalars().all()
    assert {(r.key_id, r.amk_version) for r in rows} == {(key.id, 2), (other.id, 1)}  # globex untouched
    after = [await private_material(db, enclave_server.ctx, ACME, key.id, v) for v in (1, 2)]
    assert after == before
    async with db.transaction(ACME) as session:
        signed = await operations.sign(
            session, enclave, key.id, data=b"m", prehashed=False, hash_alg=None, fmt=None, version=1
        )
    public = crypto_keys.public_key(KeyType.SECP256K1, before[0])
    assert verify(
        KeyType.SECP256K1,
        public,
        b"m",
        signed.result.signature,
        hash_alg=HashAlgorithm.KECCAK256,
        fmt=SignatureFormat.RAW,
    )
    # New keys and versions use the new AMK.
    async with db.transaction(ACME) as session:
        version = await service.rotate(session, enclave, ACME, key.id)
    assert version.amk_version == 2


async def test_names_are_per_account_and_unique(
    db: Database, enclave: UnixEnclaveClient, accounts: None
) -> None:
    await _create(db, enclave, ACME, "shared", KeyType.ED25519)
    await _create(db, enclave, GLOBEX, "shared", KeyType.ED25519)
    with pytest.raises(KeyNameTaken):
        await _create(db, enclave, ACME, "shared", KeyType.AES256_GCM)


async def test_another_accounts_key_is_not_found(
    db: Database, enclave: UnixEnclaveClient, accounts: None
) -> None:
    key = await _create(db, enclave, ACME, "k", KeyType.HMAC_SHA256)
    async with db.transaction(GLOBEX) as session:
        with pytest.raises(KeyNotFound):
            await service.get_key(session, key.id)
        with pytest.raises(KeyNotFound):
            await operations.hmac(session, enclave, key.id, data=b"x", version=None)
        # operations.use is a Core statement (no session criteria): it filters the account itself.
        with pytest.raises(KeyNotFound):
            await operations.use(session, key.id, Operation.HMAC, None)
    signer = await _create(db, enclave, ACME, "signer", KeyType.SECP256R1)
    async with db.transaction(GLOBEX) as session:
        with pytest.raises(KeyNotFound):
            await operations.sign(
                session, enclave, signer.id, data=b"m", prehashed=False, hash_alg=None, fmt=None, version=None
            )
    # A platform session (no account) reaches every account's key, as its ORM reads do.
    async with db.transaction() as session:
        assert (await operations.use(session, signer.id, Operation.SIGN, None)).key.account_id == ACME


async def test_use_reads_key_version_and_amk_in_one_statement(
    db: Database, enclave: UnixEnclaveClient, accounts: None
) -> None:
    key = await _create(db, enclave, ACME, "k", KeyType.SECP256R1)
    async with db.transaction(ACME) as session:
        await service.rotate(session, enclave, ACME, key.id)
    with recorded_statements(db) as statements:
        async with db.transaction(ACME) as session:
            latest = await operations.use(session, key.id, Operation.SIGN, None)
            first = await operations.use(session, key.id, Operation.SIGN, 1)
    assert len([s for s in statements if "key_versions" in s]) == 2
    assert (latest.key.latest_version, latest.version.version, first.version.version) == (2, 2, 1)
    assert latest.amk.account_id == latest.version.account_id == ACME
    with pytest.raises(InvalidKeyVersion):
        async with db.transaction(ACME) as session:
            await operations.use(session, key.id, Operation.SIGN, 3)


async def test_use_refuses_a_version_other_than_the_policys(
    db: Database, enclave: UnixEnclaveClient, accounts: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The statement chooses the version in SQL; a policy that ever chose otherwise must not be overridden.
    key = await _create(db, enclave, ACME, "k", KeyType.SECP256R1)
    async with db.transaction(ACME) as session:
        await service.rotate(session, enclave, ACME, key.id)
    monkeypatch.setattr(policy, "resolve_version", lambda *_: 1)
    with pytest.raises(RuntimeError, match="policy chose 1"):
        async with db.transaction(ACME) as session:
            await operations.use(session, key.id, Operation.SIGN, None)


async def test_use_named_finds_the_accounts_key_by_name_in_one_statement(
    db: Database, enclave: UnixEnclaveClient, accounts: None
) -> None:
    key = await _create(db, enclave, ACME, "shared-name", KeyType.SECP256R1)
    theirs = await _create(db, enclave, GLOBEX, "shared-name", KeyType.ED25519)
    async with db.transaction(ACME) as session:
        await service.rotate(session, enclave, ACME, key.id)
    with recorded_statements(db) as statements:
        async with db.transaction(ACME) as session:
            found = await operations.use_named(session, ACME, "shared-name", Operation.SIGN)
    assert found is not None
    assert len([s for s in statements if "key_versions" in s]) == 1
    assert (found.key.id, found.version.version, found.amk.account_id) == (key.id, 2, ACME)
    # The account filter is the statement's own: a platform session sees each account's key.
    async with db.transaction() as session:
        other = await operations.use_named(session, GLOBEX, "shared-name", Operation.SIGN)
        assert other is not None
        assert other.key.id == theirs.id
        assert await operations.use_named(session, ACME, "no-such-name", Operation.SIGN) is None
    # A tenant session sees only its own account's keys, as its ORM queries do.
    async with db.transaction(ACME) as session:
        assert await operations.use_named(session, GLOBEX, "shared-name", Operation.SIGN) is None
    # The policy's checks are use's: a disabled key is refused.
    async with db.transaction(ACME) as session:
        await service.set_enabled(session, key.id, enabled=False)
    with pytest.raises(KeyDisabled):
        async with db.transaction(ACME) as session:
            await operations.use_named(session, ACME, "shared-name", Operation.SIGN)


async def test_use_sees_the_sessions_unflushed_changes(
    db: Database, enclave: UnixEnclaveClient, accounts: None
) -> None:
    key = await _create(db, enclave, ACME, "k", KeyType.ED25519)
    async with db.transaction(ACME) as session:
        stored = await service.get_key(session, key.id)
        stored.state = KeyState.DISABLED  # pending: the ORM would flush it before its next query
        with pytest.raises(KeyDisabled):
            await operations.use(session, key.id, Operation.SIGN, None)


@pytest.mark.parametrize("days", [6, 31, 0, -1], ids=["6", "31", "0", "negative"])
async def test_deletion_window_bounds(
    db: Database, enclave: UnixEnclaveClient, accounts: None, days: int
) -> None:
    key = await _create(db, enclave, ACME, "k", KeyType.ED25519)
    async with db.transaction(ACME) as session:
        with pytest.raises(InvalidKeyPolicy):
            await service.schedule_deletion(session, key.id, days)


@pytest.mark.parametrize("days", [7, 30], ids=["7", "30"])
async def test_deletion_date_edges_and_purge(
    db: Database, enclave: UnixEnclaveClient, accounts: None, days: int
) -> None:
    key = await _create(db, enclave, ACME, "k", KeyType.ED25519)
    keep = await _create(db, enclave, ACME, "keep", KeyType.ED25519)
    now = utcnow()
    async with db.transaction(ACME) as session:
        scheduled = await service.schedule_deletion(session, key.id, days, now=now)
        with pytest.raises(KeyPendingDeletion):
            await service.rotate(session, enclave, ACME, key.id)
    assert scheduled.deletion_date == now + timedelta(days=days)
    deadline = now + timedelta(days=days)
    # One microsecond before the date the key exists; at the date it is gone.
    async with db.session(ACME) as session:
        assert (await service.get_key(session, key.id, now=deadline - timedelta(microseconds=1))).state == (
            KeyState.PENDING_DELETION
        )
        with pytest.raises(KeyNotFound):
            await service.get_key(session, key.id, now=deadline)
    assert await purge_deleted_keys(db, now=deadline - timedelta(seconds=1)) == 0
    assert await purge_deleted_keys(db, now=deadline, batch_size=1) == 1
    async with db.session() as session:
        assert (await session.execute(select(Key.id))).scalars().all() == [keep.id]
        assert (await session.execute(select(func.count()).select_from(KeyVersion))).scalar_one() == 1


async def test_cancel_brings_the_key_back_disabled(
    db: Database, enclave: UnixEnclaveClient, accounts: None
) -> None:
    key = await _create(db, enclave, ACME, "k", KeyType.AES256_GCM)
    async with db.transaction(ACME) as session:
        await service.schedule_deletion(session, key.id, 7)
        cancelled = await service.cancel_deletion(session, key.id)
        again = await service.cancel_deletion(session, key.id)
    assert (cancelled.state, cancelled.deletion_date) == (KeyState.DISABLED, None)
    assert again.state == KeyState.DISABLED


async def test_purge_leaves_keys_whose_deletion_was_cancelled(
    db: Database, enclave: UnixEnclaveClient, accounts: None
) -> None:
    key = await _create(db, enclave, ACME, "k", KeyType.AES256_GCM)
    async with db.transaction() as session:
        # A date in the past on an enabled key (never scheduled, or cancelled): not purged.
        await session.execute(
            update(Key).where(Key.id == key.id).values(deletion_date=utcnow() - timedelta(days=1))
        )
    assert await purge_deleted_keys(db, now=utcnow()) == 0
    async with db.session(ACME) as session:
        assert (await service.get_key(session, key.id)).state == KeyState.ENABLED

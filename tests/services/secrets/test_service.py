"""The secrets service on a real database and a real enclave, below the API: envelope encryption,
retention, the rewrap source under AMK rotation, grants, tenant scoping."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from neo_service_layer.client.secrets import RecipientKey, open_secret_value, seal_secret_value
from neo_service_layer.db.models import Account
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.canonical import b64decode
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.handlers.secrets import resolve_secrets
from neo_service_layer.enclave.opdefs.secrets import dek_context
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.enclave.wrapping import WrapPurpose
from neo_service_layer.errors import (
    NSLError,
    RecipientKeyInvalid,
    RecipientKeyRequired,
    SealedValueInvalid,
    SealedValueStale,
    SecretNotFound,
)
from neo_service_layer.services.masterkeys import service as masterkeys
from neo_service_layer.services.masterkeys.sources import rewrap_sources
from neo_service_layer.services.secrets import service
from neo_service_layer.services.secrets.models import Secret, SecretVersion
from neo_service_layer.services.secrets.rewrap_source import SecretDekSource

ACME, GLOBEX = "acc_01ACME", "acc_01GLOBEX"


@pytest.fixture
async def accounts(db: Database) -> None:
    async with db.transaction() as session:
        session.add_all([Account(id=ACME, name="acme"), Account(id=GLOBEX, name="globex")])


def _seal(
    server: EnclaveServer, account: str, name: str, value: bytes, current: Secret | None = None
) -> bytes:
    """``value`` sealed as the write that replaces ``current``'s version (or creates the secret)."""
    cas, secret_id = (current.current_version, current.id) if current is not None else (0, None)
    key = server.ctx.identity.public.x25519
    return b64decode(seal_secret_value(key, account, name, value, cas=cas, secret_id=secret_id))


async def _write(
    db: Database,
    enclave: UnixEnclaveClient,
    server: EnclaveServer,
    account: str,
    name: str,
    value: bytes,
    **kw: int,
) -> service.Written:
    async with db.transaction(account) as session:
        current = await service.find_secret(session, name)
        return await service.write(
            session,
            enclave,
            account,
            name,
            _seal(server, account, name, value, current),
            cas=kw.get("cas"),
            default_max_versions=kw.get("max_versions", 10),
        )


async def _value(
    db: Database, enclave: UnixEnclaveClient, account: str, name: str, version: int | None = None
) -> bytes:
    reader = RecipientKey.generate()
    async with db.transaction(account) as session:
        signed = await service.read(session, enclave, account, name, reader.public_hex, version)
    return open_secret_value(reader, signed.result.sealed_value, account_id=account, name=name)


async def test_write_stores_only_ciphertext_and_reads_back(
    db: Database, enclave: UnixEnclaveClient, enclave_server: EnclaveServer, accounts: None
) -> None:
    written = await _write(db, enclave, enclave_server, ACME, "pw", b"plain-value")
    assert (written.created, written.version.version) == (True, 1)
    async with db.session() as session:
        row = (await session.execute(select(SecretVersion))).scalar_one()
    assert row.ciphertext is not None
    assert b"plain-value" not in row.ciphertext
    assert row.wrapped_dek is not None
    assert len(row.wrapped_dek) == 12 + 32 + 16
    assert (row.account_id, row.amk_version, row.destroyed) == (ACME, 1, False)
    assert await _value(db, enclave, ACME, "pw") == b"plain-value"


async def test_sealed_value_for_another_account_is_refused(
    db: Database, enclave: UnixEnclaveClient, enclave_server: EnclaveServer, accounts: None
) -> None:
    async with db.transaction(ACME) as session:
        with pytest.raises(SealedValueInvalid, match="another account"):
            await service.write(
                session,
                enclave,
                ACME,
                "pw",
                _seal(enclave_server, GLOBEX, "pw", b"x"),
                cas=None,
                default_max_versions=10,
            )


async def test_a_captured_sealed_write_is_good_for_its_one_version(
    db: Database, enclave: UnixEnclaveClient, enclave_server: EnclaveServer, accounts: None
) -> None:
    await _write(db, enclave, enclave_server, ACME, "pw", b"v1")
    async with db.session(ACME) as session:
        at_v1 = await service.get_secret(session, "pw")
    captured_update = _seal(enclave_server, ACME, "pw", b"v2", at_v1)
    captured_creation = _seal(enclave_server, ACME, "pw", b"v1-again")
    await _write(db, enclave, enclave_server, ACME, "pw", b"v2")
    await _write(db, enclave, enclave_server, ACME, "pw", b"v3")

    async def store(sealed: bytes) -> service.Written:
        async with db.transaction(ACME) as session:
            return await service.write(
                session, enclave, ACME, "pw", sealed, cas=None, default_max_versions=10
            )

    for sealed in (captured_update, captured_creation):
        with pytest.raises(SealedValueStale) as stale:
            await store(sealed)
        assert stale.value.extra == {"current_version": 3}
    assert await _value(db, enclave, ACME, "pw") == b"v3"

    # Deleted and recreated, the secret has a new id: the captured update still does not land.
    async with db.transaction(ACME) as session:
        await service.delete_secret(session, "pw")
    await _write(db, enclave, enclave_server, ACME, "pw", b"new-v1")
    with pytest.raises(SealedValueStale, match="another secret of this name"):
        await store(captured_update)
    # What is left (docs/secrets.md): once the name is gone, its creation can be stored once more.
    async with db.transaction(ACME) as session:
        await service.delete_secret(session, "pw")
    assert (await store(captured_creation)).version.version == 1


async def test_retention_removes_the_oldest_versions(
    db: Database, enclave: UnixEnclaveClient, enclave_server: EnclaveServer, accounts: None
) -> None:
    for index in range(1, 5):
        await _write(db, enclave, enclave_server, ACME, "r", f"v{index}".encode(), max_versions=2)
    async with db.session(ACME) as session:
        secret = await service.get_secret(session, "r")
        assert [v.version for v in await service.versions_of(session, secret)] == [3, 4]
    assert await _value(db, enclave, ACME, "r", 3) == b"v3"


async def test_rewrap_source_skips_destroyed_and_other_accounts(
    db: Database, enclave: UnixEnclaveClient, enclave_server: EnclaveServer, accounts: None
) -> None:
    await _write(db, enclave, enclave_server, ACME, "a", b"1")
    await _write(db, enclave, enclave_server, ACME, "a", b"2")
    theirs = await _write(db, enclave, enclave_server, GLOBEX, "a", b"globex")
    async with db.transaction(ACME) as session:
        await service.destroy(session, "a", [1])
    source = SecretDekSource()
    async with db.session(ACME) as session:
        items = await source.older_than(session, 2, 100)
    assert [(i.purpose, i.amk_version) for i in items] == [(WrapPurpose.SECRET_DEK, 1)]
    assert items[0].context.endswith(":2")

    async with db.transaction(ACME) as session:
        target, moved = await masterkeys.rotate(session, enclave, ACME, rewrap_sources())
    assert (target.version, moved) == (2, 1)
    async with db.session() as session:
        rows = (await session.execute(select(SecretVersion).order_by(SecretVersion.id))).scalars().all()
    assert [(r.account_id, r.version, r.amk_version, r.wrapped_dek is None) for r in rows] == [
        (ACME, 1, 1, True),
        (ACME, 2, 2, False),
        (GLOBEX, 1, 1, False),  # another account's keys are not touched
    ]
    assert rows[2].wrapped_dek == theirs.version.wrapped_dek
    assert dek_context(rows[1].secret_id, 2) == items[0].context
    assert await _value(db, enclave, ACME, "a") == b"2"
    assert await _value(db, enclave, GLOBEX, "a") == b"globex"

    # A store for an item that was destroyed meanwhile writes nothing back.
    async with db.transaction(ACME) as session:
        await service.destroy(session, "a", [2])
        await source.store(session, items[0], 3, b"\x00" * 60)
    async with db.session(ACME) as session:
        row = (await session.execute(select(SecretVersion).where(SecretVersion.version == 2))).scalar_one()
    assert (row.wrapped_dek, row.amk_version) == (None, 2)


async def test_granted_records_resolve_only_granted_live_secrets(
    db: Database, enclave: UnixEnclaveClient, enclave_server: EnclaveServer, accounts: None
) -> None:
    await _write(db, enclave, enclave_server, ACME, "granted", b"g")
    await _write(db, enclave, enclave_server, ACME, "deleted", b"d")
    await _write(db, enclave, enclave_server, ACME, "ungranted", b"u")
    await _write(db, enclave, enclave_server, GLOBEX, "granted", b"other account")
    async with db.transaction(ACME) as session:
        for name in ("granted", "deleted"):
            await service.grant(session, ACME, name, "oracle", "req-1")
        await service.soft_delete(session, "deleted", [1])
    async with db.transaction(GLOBEX) as session:
        await service.grant(session, GLOBEX, "granted", "oracle", "req-1")
    async with db.session(ACME) as session:
        records = await service.granted_records(session, ACME, "oracle", "req-1")
        assert await service.granted_records(session, ACME, "function", "req-1") == []
    values = resolve_secrets(
        enclave_server.ctx, {"account_id": ACME, "secrets": [r.model_dump(mode="json") for r in records]}
    )
    assert values == {"granted": b"g"}


@pytest.mark.parametrize(
    ("recipient", "error"),
    [
        pytest.param(None, RecipientKeyRequired, id="missing"),
        pytest.param("", RecipientKeyRequired, id="empty"),
        pytest.param("g" * 64, RecipientKeyInvalid, id="not-hex"),
        pytest.param("ab" * 33, RecipientKeyInvalid, id="too-long"),
        pytest.param("0" * 64, RecipientKeyInvalid, id="zero"),
    ],
)
def test_check_recipient(recipient: str | None, error: type[NSLError]) -> None:
    with pytest.raises(error):
        service.check_recipient(recipient)
    assert service.check_recipient("AB" * 32) == "ab" * 32


async def test_tenant_session_never_sees_another_accounts_secret(
    db: Database, enclave: UnixEnclaveClient, enclave_server: EnclaveServer, accounts: None
) -> None:
    await _write(db, enclave, enclave_server, GLOBEX, "theirs", b"x")
    async with db.session(ACME) as session:
        with pytest.raises(SecretNotFound):
            await service.get_secret(session, "theirs")

"""The secrets' rewrap source under account master key rotation, on a real database and enclave."""

from __future__ import annotations

from sqlalchemy import select

from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.opdefs.secrets import dek_context
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.enclave.wrapping import WrapPurpose
from neo_service_layer.services.masterkeys import service as masterkeys
from neo_service_layer.services.masterkeys.sources import rewrap_sources
from neo_service_layer.services.secrets import versions
from neo_service_layer.services.secrets.models import SecretVersion
from neo_service_layer.services.secrets.rewrap_source import SecretDekSource
from tests.services.secrets.helpers import ACME, GLOBEX, read_value, write_secret


async def test_rewrap_source_skips_destroyed_and_other_accounts(
    db: Database, enclave: UnixEnclaveClient, enclave_server: EnclaveServer, accounts: None
) -> None:
    await write_secret(db, enclave, enclave_server, ACME, "a", b"1")
    await write_secret(db, enclave, enclave_server, ACME, "a", b"2")
    theirs = await write_secret(db, enclave, enclave_server, GLOBEX, "a", b"globex")
    async with db.transaction(ACME) as session:
        await versions.destroy(session, "a", [1])
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
    assert await read_value(db, enclave, ACME, "a") == b"2"
    assert await read_value(db, enclave, GLOBEX, "a") == b"globex"

    # A store for an item that was destroyed meanwhile writes nothing back.
    async with db.transaction(ACME) as session:
        await versions.destroy(session, "a", [2])
        await source.store(session, items[0], 3, b"\x00" * 60)
    async with db.session(ACME) as session:
        row = (await session.execute(select(SecretVersion).where(SecretVersion.version == 2))).scalar_one()
    assert (row.wrapped_dek, row.amk_version) == (None, 2)

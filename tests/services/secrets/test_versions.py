"""Secret versions on a real database and a real enclave, below the API: envelope encryption, sealed
writes good for one version only, the recipient key of reads."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.errors import NSLError
from neo_service_layer.services.secrets import service, versions
from neo_service_layer.services.secrets.errors import (
    RecipientKeyInvalid,
    RecipientKeyRequired,
    SealedValueInvalid,
    SealedValueStale,
)
from neo_service_layer.services.secrets.models import SecretVersion
from tests.services.secrets.helpers import ACME, GLOBEX, read_value, seal, write_secret


async def test_write_stores_only_ciphertext_and_reads_back(
    db: Database, enclave: UnixEnclaveClient, enclave_server: EnclaveServer, accounts: None
) -> None:
    written = await write_secret(db, enclave, enclave_server, ACME, "pw", b"plain-value")
    assert (written.created, written.version.version) == (True, 1)
    async with db.session() as session:
        row = (await session.execute(select(SecretVersion))).scalar_one()
    assert row.ciphertext is not None
    assert b"plain-value" not in row.ciphertext
    assert row.wrapped_dek is not None
    assert len(row.wrapped_dek) == 12 + 32 + 16
    assert (row.account_id, row.amk_version, row.destroyed) == (ACME, 1, False)
    assert await read_value(db, enclave, ACME, "pw") == b"plain-value"


async def test_sealed_value_for_another_account_is_refused(
    db: Database, enclave: UnixEnclaveClient, enclave_server: EnclaveServer, accounts: None
) -> None:
    async with db.transaction(ACME) as session:
        with pytest.raises(SealedValueInvalid, match="another account"):
            await versions.write(
                session,
                enclave,
                ACME,
                "pw",
                seal(enclave_server, GLOBEX, "pw", b"x"),
                cas=None,
                default_max_versions=10,
            )


async def test_a_captured_sealed_write_is_good_for_its_one_version(
    db: Database, enclave: UnixEnclaveClient, enclave_server: EnclaveServer, accounts: None
) -> None:
    await write_secret(db, enclave, enclave_server, ACME, "pw", b"v1")
    async with db.session(ACME) as session:
        at_v1 = await service.get_secret(session, "pw")
    captured_update = seal(enclave_server, ACME, "pw", b"v2", at_v1)
    captured_creation = seal(enclave_server, ACME, "pw", b"v1-again")
    await write_secret(db, enclave, enclave_server, ACME, "pw", b"v2")
    await write_secret(db, enclave, enclave_server, ACME, "pw", b"v3")

    async def store(sealed: bytes) -> versions.Written:
        async with db.transaction(ACME) as session:
            return await versions.write(
                session, enclave, ACME, "pw", sealed, cas=None, default_max_versions=10
            )

    for sealed in (captured_update, captured_creation):
        with pytest.raises(SealedValueStale) as stale:
            await store(sealed)
        assert stale.value.extra == {"current_version": 3}
    assert await read_value(db, enclave, ACME, "pw") == b"v3"

    # Deleted and recreated, the secret has a new id: the captured update still does not land.
    async with db.transaction(ACME) as session:
        await service.delete_secret(session, "pw")
    await write_secret(db, enclave, enclave_server, ACME, "pw", b"new-v1")
    with pytest.raises(SealedValueStale, match="another secret of this name"):
        await store(captured_update)
    # What is left (docs/secrets.md): once the name is gone, its creation can be stored once more.
    async with db.transaction(ACME) as session:
        await service.delete_secret(session, "pw")
    assert (await store(captured_creation)).version.version == 1


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
        versions.check_recipient(recipient)
    assert versions.check_recipient("AB" * 32) == "ab" * 32

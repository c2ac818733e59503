"""Secrets and their metadata on a real database and a real enclave, below the API: retention, tenant
scoping."""

from __future__ import annotations

import pytest

from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.services.secrets import service
from neo_service_layer.services.secrets.errors import SecretNotFound
from tests.services.secrets.helpers import ACME, GLOBEX, read_value, write_secret


async def test_retention_removes_the_oldest_versions(
    db: Database, enclave: UnixEnclaveClient, enclave_server: EnclaveServer, accounts: None
) -> None:
    for index in range(1, 5):
        await write_secret(db, enclave, enclave_server, ACME, "r", f"v{index}".encode(), max_versions=2)
    async with db.session(ACME) as session:
        secret = await service.get_secret(session, "r")
        assert [v.version for v in await service.versions_of(session, secret)] == [3, 4]
    assert await read_value(db, enclave, ACME, "r", 3) == b"v3"


async def test_tenant_session_never_sees_another_accounts_secret(
    db: Database, enclave: UnixEnclaveClient, enclave_server: EnclaveServer, accounts: None
) -> None:
    await write_secret(db, enclave, enclave_server, GLOBEX, "theirs", b"x")
    async with db.session(ACME) as session:
        with pytest.raises(SecretNotFound):
            await service.get_secret(session, "theirs")

"""Secret grants on a real database and a real enclave: what a grantee's enclave op resolves."""

from __future__ import annotations

from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.handlers.secrets import resolve_secrets
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.services.secrets import grants, versions
from neo_service_layer.services.secrets.models import GranteeKind
from tests.services.secrets.helpers import ACME, GLOBEX, write_secret


async def test_granted_records_resolve_only_granted_live_secrets(
    db: Database, enclave: UnixEnclaveClient, enclave_server: EnclaveServer, accounts: None
) -> None:
    await write_secret(db, enclave, enclave_server, ACME, "granted", b"g")
    await write_secret(db, enclave, enclave_server, ACME, "deleted", b"d")
    await write_secret(db, enclave, enclave_server, ACME, "ungranted", b"u")
    await write_secret(db, enclave, enclave_server, GLOBEX, "granted", b"other account")
    async with db.transaction(ACME) as session:
        for name in ("granted", "deleted"):
            await grants.grant(session, ACME, name, GranteeKind.ORACLE, "req-1")
        await versions.soft_delete(session, "deleted", [1])
    async with db.transaction(GLOBEX) as session:
        await grants.grant(session, GLOBEX, "granted", GranteeKind.ORACLE, "req-1")
    async with db.session(ACME) as session:
        records = await grants.granted_records(session, ACME, GranteeKind.ORACLE, "req-1")
        assert await grants.granted_records(session, ACME, GranteeKind.FUNCTION, "req-1") == []
    values = resolve_secrets(
        enclave_server.ctx, {"account_id": ACME, "secrets": [r.model_dump(mode="json") for r in records]}
    )
    assert values == {"granted": b"g"}

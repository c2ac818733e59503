"""Secrets written and read on the real enclave, as the API does, for the service tests."""

from __future__ import annotations

from neo_service_layer.client.secrets import RecipientKey, open_secret_value, seal_secret_value
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.canonical import b64decode
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.services.secrets import service, versions
from neo_service_layer.services.secrets.models import Secret

ACME, GLOBEX = "acc_01ACME", "acc_01GLOBEX"


def seal(
    server: EnclaveServer, account: str, name: str, value: bytes, current: Secret | None = None
) -> bytes:
    """``value`` sealed as the write that replaces ``current``'s version (or creates the secret)."""
    cas, secret_id = (current.current_version, current.id) if current is not None else (0, None)
    key = server.ctx.identity.public.x25519
    return b64decode(seal_secret_value(key, account, name, value, cas=cas, secret_id=secret_id))


async def write_secret(
    db: Database,
    enclave: UnixEnclaveClient,
    server: EnclaveServer,
    account: str,
    name: str,
    value: bytes,
    **kw: int,
) -> versions.Written:
    """Write ``value`` as the next version of ``name``, sealed as a client would."""
    async with db.transaction(account) as session:
        current = await service.find_secret(session, name)
        return await versions.write(
            session,
            enclave,
            account,
            name,
            seal(server, account, name, value, current),
            cas=kw.get("cas"),
            default_max_versions=kw.get("max_versions", 10),
        )


async def read_value(
    db: Database, enclave: UnixEnclaveClient, account: str, name: str, version: int | None = None
) -> bytes:
    """Read ``version`` (default: the current one) sealed to a fresh reader key, and open it."""
    reader = RecipientKey.generate()
    async with db.transaction(account) as session:
        signed = await versions.read(session, enclave, account, name, reader.public_hex, version)
    return open_secret_value(reader, signed.result.sealed_value, account_id=account, name=name)

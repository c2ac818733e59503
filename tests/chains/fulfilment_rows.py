"""Reading ``chain_fulfilments`` rows (and every other table) in the fulfiller tests of every chain family."""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import select

from neo_service_layer.chains.fulfilments import ChainFulfilment
from neo_service_layer.db.base import Base
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.chain_keys import ChainFamily, chain_vrf_secret
from neo_service_layer.enclave.handlers.keys import version_material
from neo_service_layer.enclave.opdefs.keys import KeyVersionArgs
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.services.keys.operations import KeyUse
from tests.leaks import assert_never_in, encodings
from tests.worker.helpers import wait_until


async def fulfilment_row(db: Database, chain: str, key: str) -> ChainFulfilment | None:
    async with db.transaction() as session:
        return await session.get(ChainFulfilment, (chain, key))


async def wait_fulfilment(
    db: Database, chain: str, key: str, *statuses: str, within: float
) -> ChainFulfilment:
    """The row once its status is one of ``statuses`` (``wait_until`` fails the test after ``within`` s)."""

    async def reached() -> bool:
        row = await fulfilment_row(db, chain, key)
        return row is not None and row.status in statuses

    await wait_until(reached, within=within)
    row = await fulfilment_row(db, chain, key)
    assert row is not None
    return row


async def database_dump(db: Database) -> bytes:
    """Every value of every table (job results included), as bytes: raw, hex, text and JSON."""
    parts: list[bytes] = []
    async with db.transaction() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        parts.append(bytes(value))
                        parts.append(bytes(value).hex().encode())
                    elif isinstance(value, dict | list):
                        parts.append(json.dumps(value).encode())
                    elif value is not None:
                        parts.append(str(value).encode())
    return b"\n".join(parts)


def key_secrets(enclave: EnclaveServer, keys: Iterable[KeyUse]) -> list[bytes]:
    """The private material of ``keys``, unwrapped the way only the enclave can (the tests run it
    in-process)."""
    return [version_material(enclave.ctx, KeyVersionArgs(**use.args())) for use in keys]


def chain_vrf_secrets(enclave: EnclaveServer, family: ChainFamily, versions: Iterable[int]) -> list[bytes]:
    """The platform's chain VRF secrets of ``versions``, derived as the enclave derives them."""
    return [chain_vrf_secret(enclave.ctx.identity, family, version) for version in versions]


def assert_no_key_material(secrets: Iterable[bytes], haystack: bytes) -> None:
    """None of ``secrets`` (32-byte private keys) is in ``haystack`` in any usual encoding."""
    secrets = list(secrets)
    assert secrets
    assert all(len(secret) == 32 for secret in secrets)
    for secret in secrets:
        assert_never_in("key material", encodings(secret), {"the haystack": haystack})

"""Platform keys (services/keys/platform.py): relayers created on first use, once, however many workers
race; VRF keys derived in the enclave, never stored."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from neo_service_layer.db.session import Database
from neo_service_layer.enclave.chain_keys import ChainFamily, chain_vrf_secret
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.crypto import dyvrf
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.services.accounts.service import bootstrap
from neo_service_layer.services.keys import platform
from neo_service_layer.services.keys.errors import KeyNameTaken
from neo_service_layer.services.keys.models import Key
from neo_service_layer.services.keys.platform import (
    evm_platform_keys,
    evm_relayer_key_name,
    n3_platform_keys,
    n3_relayer_key_name,
)
from neo_service_layer.services.keys.service import create_key

CHAIN_ID = 31337
MAGIC = 56753


async def test_racing_creations_make_one_key_of_each_name(
    db: Database, enclave_server: EnclaveServer, enclave_socket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers (each its own engine and enclave client, as two processes have) create the platform
    keys at once. PostgreSQL: both see no key, both insert, the unique index fails one, which reads the
    winner's key (made certain by holding each creation until its rival has looked too). SQLite: write
    transactions BEGIN IMMEDIATE, so the second worker looks only after the first committed."""
    async with db.transaction() as session:
        await bootstrap(session)
    postgres = db.engine.dialect.name == "postgresql"
    barrier = asyncio.Barrier(2)
    lost: list[str] = []

    async def racing_create_key(*args: Any, **kwargs: Any) -> Any:
        if postgres:
            await barrier.wait()
        try:
            return await create_key(*args, **kwargs)
        except KeyNameTaken:
            lost.append(kwargs["name"])
            raise

    monkeypatch.setattr(platform, "create_key", racing_create_key)
    workers = [Database(db.url) for _ in range(2)]
    clients = [UnixEnclaveClient(enclave_socket, timeout=10.0, pool_size=1) for _ in range(2)]
    try:
        evm_a, evm_b = await asyncio.gather(
            *(evm_platform_keys(w, c, CHAIN_ID) for w, c in zip(workers, clients, strict=True))
        )
        n3_a, n3_b = await asyncio.gather(
            *(n3_platform_keys(w, c, MAGIC) for w, c in zip(workers, clients, strict=True))
        )
    finally:
        for client, worker in zip(clients, workers, strict=True):
            await client.close()
            await worker.dispose()

    assert evm_a == evm_b
    assert n3_a == n3_b
    async with db.transaction() as session:
        rows = (await session.execute(select(Key.name, func.count()).group_by(Key.name))).all()
    # Only the relayers are keys of the keys service; the VRF keys are the enclave's own.
    names = [evm_relayer_key_name(CHAIN_ID), n3_relayer_key_name(MAGIC)]
    assert {name: count for name, count in rows} == dict.fromkeys(names, 1)
    # PostgreSQL: each race really reached the insert, and one of its two lost; SQLite: none did.
    assert sorted(lost) == (sorted(names) if postgres else [])


async def test_vrf_keys_are_the_enclaves_derived_keys_by_version(
    db: Database, enclave_server: EnclaveServer, enclave_socket: Path
) -> None:
    async with db.transaction() as session:
        await bootstrap(session)
    client = UnixEnclaveClient(enclave_socket, timeout=10.0, pool_size=1)
    try:
        first = await evm_platform_keys(db, client, CHAIN_ID)
        second = await evm_platform_keys(db, client, CHAIN_ID, vrf_key_version=2)
        n3 = await n3_platform_keys(db, client, MAGIC)
    finally:
        await client.close()

    identity = enclave_server.ctx.identity
    assert (first.vrf_key_version, second.vrf_key_version, n3.vrf_key_version) == (1, 2, 1)
    assert first.vrf_public_key == dyvrf.public_key(chain_vrf_secret(identity, ChainFamily.EVM, 1))
    assert second.vrf_public_key == dyvrf.public_key(chain_vrf_secret(identity, ChainFamily.EVM, 2))
    assert n3.vrf_public_key == dyvrf.public_key(chain_vrf_secret(identity, ChainFamily.N3, 1))
    assert first.vrf_public_key_eip2537 == dyvrf.eip2537_g1(first.vrf_public_key)
    assert first.relayer == second.relayer
    async with db.transaction() as session:
        names = set((await session.execute(select(Key.name))).scalars())
    assert names == {evm_relayer_key_name(CHAIN_ID), n3_relayer_key_name(MAGIC)}

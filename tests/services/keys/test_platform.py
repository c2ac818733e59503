"""Platform keys (services/keys/platform.py): created on first use, once, however many workers race."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.errors import KeyNameTaken
from neo_service_layer.services.accounts.service import bootstrap
from neo_service_layer.services.keys import platform
from neo_service_layer.services.keys.models import Key
from neo_service_layer.services.keys.platform import (
    EVM_VRF_KEY_NAME,
    N3_VRF_KEY_NAME,
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
    names = [EVM_VRF_KEY_NAME, evm_relayer_key_name(CHAIN_ID), N3_VRF_KEY_NAME, n3_relayer_key_name(MAGIC)]
    assert {name: count for name, count in rows} == dict.fromkeys(names, 1)
    # PostgreSQL: each race really reached the insert, and one of its two lost; SQLite: none did.
    assert sorted(lost) == (sorted(names) if postgres else [])

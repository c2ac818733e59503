"""Fixtures on a real local Neo N3 chain: the session's neo-go node and build (tests/chains/conftest.py,
shared with the tests that use both chain families, with ``n3_platform``), the contracts deployed once in a
single transaction.

The enclave is stood in for by a secp256r1 key made here (:class:`EnclaveKey`) and a DY-VRF secret from
``dyvrf.generate_secret``. Tests share the chain: each makes its own requests, and a test that changes
gateway settings (pause, key rotation) restores them before it ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from neo3.wallet.account import Account

from neo_service_layer.chains.neo_n3.build import N3Build
from neo_service_layer.chains.neo_n3.deploy import deploy_nsl
from neo_service_layer.chains.neo_n3.devnet import DEFAULT_MAGIC, GAS_FACTOR, N3Devnet
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.crypto import dyvrf
from neo_service_layer.enclave.server import EnclaveServer
from tests.chains.neo_n3.helpers import TEST_CONFIG_HASH, EnclaveKey, Nsl
from tests.chains.neo_n3.platform import N3Platform, wire_n3_platform

MEASUREMENT = bytes.fromhex("6e" * 32)


@pytest.fixture(scope="session")
def n3_devnet_at_default_pace() -> Iterator[N3Devnet]:
    """A second chain, at the default 1 s a block, for a test that must act between a broadcast and the
    block that includes it (a window of one block time)."""
    with N3Devnet(magic=DEFAULT_MAGIC + 1) as chain:
        yield chain


@pytest.fixture(scope="session")
def nsl(n3_devnet: N3Devnet, n3_build: N3Build) -> Nsl:
    admin, relayer, stranger = Account.create_new(), Account.create_new(), Account.create_new()
    enclave = EnclaveKey()
    vrf_secret = dyvrf.generate_secret()

    async def setup() -> Nsl:
        await n3_devnet.fund(
            {
                admin.script_hash: 2_000 * GAS_FACTOR,
                relayer.script_hash: 500 * GAS_FACTOR,
                stranger.script_hash: 50 * GAS_FACTOR,
            }
        )
        deployment = await deploy_nsl(
            n3_devnet.rpc_url,
            admin,
            n3_build,
            enclave_public_key=enclave.public_key,
            measurement=MEASUREMENT,
            vrf_public_key=dyvrf.public_key(vrf_secret),
            config_hashes={"NEO/USD": TEST_CONFIG_HASH},
        )
        return Nsl(
            n3_devnet, n3_build, deployment, admin, relayer, stranger, enclave, vrf_secret, MEASUREMENT
        )

    return asyncio.run(setup())


@pytest.fixture
async def n3_platform_at_default_pace(
    n3_devnet_at_default_pace: N3Devnet,
    n3_build: N3Build,
    db: Database,
    enclave_server: EnclaveServer,
    enclave_socket: Path,
) -> AsyncIterator[N3Platform]:
    """Like ``n3_platform``, on the chain at the default pace."""
    async for wired in wire_n3_platform(n3_devnet_at_default_pace, n3_build, db, enclave_socket):
        yield wired

"""Set-up shared by the N3 watcher and fulfiller tests: a gateway wired to this test's real enclave and
database (the analogue of tests/chains/evm/fulfil_helpers.py), settings for a worker, row polling.

Each test deploys its OWN gateway and consumers (one transaction, ~1 block) from a fresh admin, with the
platform's keys registered by ``deploy_nsl`` (``set_enclave_key`` = the enclave identity's secp256r1
key, ``set_vrf_key`` = the platform N3 VRF key): the session gateway of ``nsl`` keeps its stand-in keys
for the other tests, and request ids start at 1 for every test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neo3.api.wrappers import GenericContract
from neo3.core import types
from neo3.wallet.account import Account

from neo_service_layer.chains.fulfilments import ChainFulfilment
from neo_service_layer.chains.neo_n3.build import N3Build
from neo_service_layer.chains.neo_n3.deploy import N3Deployment, deploy_nsl
from neo_service_layer.chains.neo_n3.devnet import GAS_FACTOR, N3Devnet, facade_for
from neo_service_layer.config import Settings
from neo_service_layer.config.groups import DEFAULT_N3_FULFIL_VALID_BLOCKS
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.services.accounts.service import bootstrap
from neo_service_layer.services.keys.platform import N3PlatformKeys, n3_platform_keys
from tests.chains.fulfilment_rows import fulfilment_row, wait_fulfilment
from tests.chains.neo_n3.helpers import TEST_CONFIG_HASH, events
from tests.settings_helpers import settings_with

RELAYER_FUNDS = 100 * GAS_FACTOR
RANDOMNESS = "RandomnessConsumer"
# The session chain makes a block five times as often as the default 1 s: nearly every test waits for a
# few blocks (funding, its gateway's deployment, its requests and fulfilments).
BLOCK_TIME_MS = 200
# A fulfilment transaction stays valid as long as with the default 20 blocks of 1 s: a worker process
# started to take over a recorded transaction must find it still valid.
VALID_BLOCKS = DEFAULT_N3_FULFIL_VALID_BLOCKS * 1000 // BLOCK_TIME_MS


@dataclass(frozen=True)
class N3Platform:
    """A gateway wired to this test's enclave and database."""

    devnet: N3Devnet
    deployment: N3Deployment
    admin: Account
    db: Database
    keys: N3PlatformKeys
    enclave: UnixEnclaveClient
    socket: Path
    #: The chain's height before the gateway was deployed: none of its events is older.
    first_block: int

    @property
    def rpc_url(self) -> str:
        return self.devnet.rpc_url

    @property
    def gateway(self) -> str:
        return f"0x{self.deployment.gateway}"

    @property
    def chain(self) -> str:
        return f"n3:{self.deployment.magic}"

    def consumer(self) -> GenericContract:
        return GenericContract(self.deployment.examples[RANDOMNESS])

    def settings(self, tmp_path: Path, **overrides: Any) -> Settings:
        options: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": self.db.url,
            "log_format": "console",
            "enclave": {"socket": self.socket},
            "n3": {
                "rpc_url": self.rpc_url,
                "gateway_hash": self.gateway,
                "confirmations": 0,
                "start_block": self.devnet.rpc("getblockcount", []),  # the next block
                "poll_seconds": 0.2,
                "fulfil_valid_blocks": VALID_BLOCKS,
            },
            "jobs": {"worker_poll_seconds": 0.05, "scheduler_lock_seconds": 1.0},
        }
        return settings_with(options, **overrides)

    async def request_randomness(self, *seeds: tuple[bytes, bool]) -> tuple[list[int], int]:
        """Request randomness for each (seed, verify) in one transaction: the ids and the block index."""
        calls = [self.consumer().call_function("request_randomness", [s, v]) for s, v in seeds]
        receipt = await facade_for(self.rpc_url, self.admin).invoke_multi(calls)
        assert str(receipt.state) == "HALT", receipt.exception
        ids = [int(r[0]) for r in events(list(receipt.notifications), "Request", self.deployment.gateway)]
        return ids, receipt.included_in_block

    def fulfilment_key(self, request_id: int) -> str:
        return f"{self.gateway[2:]}:{request_id}"

    async def row(self, request_id: int) -> ChainFulfilment | None:
        return await fulfilment_row(self.db, self.chain, self.fulfilment_key(request_id))

    async def wait_status(self, request_id: int, *statuses: str, within: float = 30.0) -> ChainFulfilment:
        return await wait_fulfilment(
            self.db, self.chain, self.fulfilment_key(request_id), *statuses, within=within
        )


async def wire_n3_platform(
    devnet: N3Devnet, build: N3Build, db: Database, socket: Path
) -> AsyncIterator[N3Platform]:
    """Bootstrap the system account, create the N3 platform keys, deploy a gateway registering them, and
    fund the relayer and the admin (who owns the consumers and requests through them)."""
    async with db.transaction() as session:
        await bootstrap(session)
    first_block = devnet.block_count()
    enclave = UnixEnclaveClient(socket, timeout=10.0, pool_size=1)
    try:
        keys = await n3_platform_keys(db, enclave, devnet.magic)
        report = await enclave.attest()
        admin = Account.create_new()
        relayer = types.UInt160.from_string(keys.relayer_script_hash[2:])
        await devnet.fund({admin.script_hash: 2_000 * GAS_FACTOR, relayer: RELAYER_FUNDS})
        deployment = await deploy_nsl(
            devnet.rpc_url,
            admin,
            build,
            enclave_public_key=keys.enclave_public_key,
            measurement=bytes.fromhex(report.measurement),
            vrf_public_key=keys.vrf_public_key,
            vrf_key_version=keys.vrf_key_version,
            config_hashes={"NEO/USD": TEST_CONFIG_HASH},
        )
        yield N3Platform(devnet, deployment, admin, db, keys, enclave, socket, first_block)
    finally:
        await enclave.close()

"""Set-up shared by the fulfiller tests: the platform's keys registered on the test gateway, settings for
a worker that watches and fulfils, and polling helpers over the ``chain_fulfilments`` table."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from web3 import Web3
from web3.types import Wei

from neo_service_layer.chains.evm.fulfiller import EvmFulfiller
from neo_service_layer.chains.evm.gateway_rpc import GatewayRpc
from neo_service_layer.chains.evm.relay import FulfilPolicy
from neo_service_layer.chains.evm.requests import ServiceRequest
from neo_service_layer.chains.evm.tx import send_transaction, transact
from neo_service_layer.chains.fulfilments import ChainFulfilment, FulfilmentStore
from neo_service_layer.config import Settings
from neo_service_layer.db.models import Job
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.services.accounts.service import bootstrap
from neo_service_layer.services.keys.platform import EvmPlatformKeys, evm_platform_keys
from neo_service_layer.worker.chain_fulfil import EnclaveFulfilmentSigner
from neo_service_layer.worker.chain_watch import EVM_REQUEST_KIND, evm_watcher, watch_once
from tests.chains.evm.flows import Nsl
from tests.chains.fulfilment_rows import fulfilment_row, wait_fulfilment
from tests.settings_helpers import settings_with

RELAYER_FUNDS = 10 * 10**18
PLATFORM_VRF_KEY_VERSION = 2


@dataclass(frozen=True)
class Platform:
    """The gateway wired to this test's enclave and database."""

    nsl: Nsl
    db: Database
    keys: EvmPlatformKeys
    enclave: UnixEnclaveClient
    socket: Path

    @property
    def chain(self) -> str:
        return f"evm:{self.nsl.chain_id}"

    def settings(self, tmp_path: Path, **overrides: Any) -> Settings:
        options: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": self.db.url,
            "log_format": "console",
            "enclave": {"socket": self.socket},
            "evm": {
                "rpc_url": self.nsl.w3.provider.endpoint_uri,  # type: ignore[attr-defined]
                "gateway_address": self.nsl.gateway.address,
                "confirmations": 0,
                "start_block": self.nsl.w3.eth.block_number + 1,
                "poll_seconds": 0.1,
                "fulfil_poll_seconds": 0.05,
            },
            "jobs": {"worker_poll_seconds": 0.05, "scheduler_lock_seconds": 1.0},
        }
        return settings_with(options, **overrides)

    async def row(self, request_id: bytes) -> ChainFulfilment | None:
        return await fulfilment_row(self.db, self.chain, request_id.hex())

    async def wait_status(self, request_id: bytes, *statuses: str, within: float = 20.0) -> ChainFulfilment:
        return await wait_fulfilment(self.db, self.chain, request_id.hex(), *statuses, within=within)


async def wire_platform(nsl: Nsl, db: Database, socket: Path) -> AsyncIterator[Platform]:
    """Bootstrap the system account, create the platform keys, register them on the gateway (the VRF key
    as version 2: version 1 is the session deployment's stand-in key), fund the relayer (all undone by
    the ``nsl`` fixture's snapshot revert and the test's fresh database)."""
    async with db.transaction() as session:
        await bootstrap(session)
    enclave = UnixEnclaveClient(socket, timeout=10.0, pool_size=1)
    try:
        keys = await evm_platform_keys(db, enclave, nsl.chain_id, vrf_key_version=PLATFORM_VRF_KEY_VERSION)
        g = nsl.gateway.functions
        transact(nsl.w3, nsl.owner, g.setEnclave(keys.enclave_signer, g.enclaveMeasurement().call()))
        transact(nsl.w3, nsl.owner, g.setVrfPublicKey(keys.vrf_key_version, keys.vrf_public_key_eip2537))
        fund(nsl.w3, nsl, keys.relayer)
        yield Platform(nsl, db, keys, enclave, socket)
    finally:
        await enclave.close()


def fund(w3: Web3, nsl: Nsl, address: str) -> None:
    """Send the relayer gas money from the deployer."""
    send_transaction(
        w3, nsl.owner, {"to": Web3.to_checksum_address(address), "value": Wei(RELAYER_FUNDS), "gas": 21_000}
    )


def rpc(nsl: Nsl, method: str, *params: Any) -> Any:
    reply = nsl.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in reply, reply
    return reply.get("result")


@contextmanager
def automine_off(nsl: Nsl) -> Iterator[None]:
    """Transactions wait in anvil's pool until ``evm_mine``; automine is back on afterwards."""
    rpc(nsl, "evm_setAutomine", False)
    try:
        yield
    finally:
        rpc(nsl, "evm_setAutomine", True)


async def jobs(platform: Platform) -> list[Job]:
    async with platform.db.transaction() as session:
        query = select(Job).where(Job.kind == EVM_REQUEST_KIND).order_by(Job.created_at)
        return list((await session.execute(query)).scalars())


async def request_of(platform: Platform, tmp_path: Path, request_id: bytes) -> ServiceRequest:
    """The request as the watcher hands it to the fulfiller (one real scan)."""
    await watch_once(platform.db, evm_watcher(platform.settings(tmp_path, evm={"start_block": 0})))
    for job in await jobs(platform):
        if job.payload["request_id"] == request_id.hex():
            return ServiceRequest.from_payload(job.payload)
    raise AssertionError("the watcher did not enqueue the request")


def fulfiller(platform: Platform, **policy: Any) -> EvmFulfiller:
    nsl = platform.nsl
    return EvmFulfiller(
        GatewayRpc(nsl.w3, nsl.gateway.address),
        FulfilmentStore(platform.db, platform.chain),
        EnclaveFulfilmentSigner(platform.db, platform.enclave, nsl.chain_id),
        chain_id=nsl.chain_id,
        policy=FulfilPolicy(poll_seconds=0.05, **policy),
    )

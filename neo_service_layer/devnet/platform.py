"""The platform side of a local deployment: the enclave, the system account, the platform's keys.

Shared by ``nsl devnet up`` and ``bench/fulfilment.py``: start (or find) the enclave process, then deploy
the NSL contracts registering the enclave's identity key and the platform VRF key, and fund the relayer.
(The system account the platform keys belong to: ``services.accounts.first_start``.)
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from neo3.api.wrappers import GenericContract
from neo3.core import types
from neo3.wallet import account
from web3 import Web3
from web3.types import Wei

from neo_service_layer.chains.evm.build import build_contracts as build_evm_contracts
from neo_service_layer.chains.evm.deploy import (
    DEFAULT_FEEDS,
    EvmDeployment,
    FeedSpec,
    contract_at,
)
from neo_service_layer.chains.evm.deploy import (
    deploy_nsl as deploy_evm_nsl,
)
from neo_service_layer.chains.evm.devnet import EvmDevnet
from neo_service_layer.chains.evm.tx import send_transaction, transact
from neo_service_layer.chains.neo_n3.build import build_contracts as build_n3_contracts
from neo_service_layer.chains.neo_n3.deploy import N3Deployment
from neo_service_layer.chains.neo_n3.deploy import deploy_nsl as deploy_n3_nsl
from neo_service_layer.chains.neo_n3.devnet import GAS_FACTOR, N3Devnet, facade_for
from neo_service_layer.chains.neo_n3.errors import N3TransactionFailed
from neo_service_layer.config import Settings
from neo_service_layer.enclave.client import EnclaveClient, UnixEnclaveClient
from neo_service_layer.errors import EnclaveUnavailable
from neo_service_layer.services.keys.platform import EvmPlatformKeys, N3PlatformKeys

DEFAULT_ENCLAVE_READY_SECONDS = 30.0
#: What ``nsl devnet`` gives the relayers: plenty for a devnet's fulfilments.
DEFAULT_EVM_RELAYER_FUNDS = 1_000 * 10**18
DEFAULT_N3_RELAYER_FUNDS = 1_000 * GAS_FACTOR
_PING_INTERVAL_SECONDS = 0.1


def spawn_enclave(env: Mapping[str, str] | None, log_path: Path) -> subprocess.Popen[bytes]:
    """``python -m neo_service_layer.enclave`` in its own session, output to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "neo_service_layer.enclave"],
            env=dict(env) if env is not None else None,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def wait_for_enclave(
    enclave: EnclaveClient,
    *,
    within: float = DEFAULT_ENCLAVE_READY_SECONDS,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """Ping until the enclave answers; EnclaveUnavailable after ``within`` s or if ``process`` exits."""
    deadline = time.monotonic() + within
    while True:
        try:
            await enclave.ping()
            return
        except Exception as e:  # any failure to answer means "not yet"
            if process is not None and process.poll() is not None:
                raise EnclaveUnavailable(f"the enclave exited with {process.returncode}") from e
            if time.monotonic() > deadline:
                raise EnclaveUnavailable(f"the enclave did not answer within {within:.0f} s: {e}") from e
        await asyncio.sleep(_PING_INTERVAL_SECONDS)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@asynccontextmanager
async def running_enclave(settings: Settings, log_path: Path) -> AsyncIterator[EnclaveClient]:
    """The enclave of ``settings``: the one answering on its socket, else one started for this block."""
    client = UnixEnclaveClient(settings.effective_enclave_socket, timeout=settings.enclave.timeout_seconds)
    process: subprocess.Popen[bytes] | None = None
    try:
        try:
            await wait_for_enclave(client, within=0)
        except EnclaveUnavailable:
            process = spawn_enclave(None, log_path)  # this process's environment: same settings
            try:
                await wait_for_enclave(client, process=process)
            except EnclaveUnavailable as e:
                raise EnclaveUnavailable(f"{e.detail} (log: {log_path})") from e
        yield client
    finally:
        await client.close()
        if process is not None:
            await asyncio.to_thread(_stop, process)


def deploy_evm(
    chain: EvmDevnet,
    keys: EvmPlatformKeys,
    measurement: bytes,
    *,
    feeds: Sequence[FeedSpec] = DEFAULT_FEEDS,
    relayer_funds: int = DEFAULT_EVM_RELAYER_FUNDS,
) -> EvmDeployment:
    """Deploy the EVM contracts from dev account 0 with the platform's keys; fund the relayer."""
    w3 = chain.web3()
    owner = chain.accounts[0].signer
    deployment = deploy_evm_nsl(
        w3,
        owner,
        build_evm_contracts(),
        enclave_signer=keys.enclave_signer,
        measurement=measurement,
        vrf_public_key=keys.vrf_public_key_eip2537,
        vrf_key_version=keys.vrf_key_version,
        feeds=feeds,
    )
    if relayer_funds > 0:
        to = Web3.to_checksum_address(keys.relayer)
        send_transaction(w3, owner, {"to": to, "value": Wei(relayer_funds), "gas": 21_000})
    return deployment


async def deploy_n3(
    chain: N3Devnet,
    keys: N3PlatformKeys,
    measurement: bytes,
    admin: account.Account,
    *,
    relayer_funds: int = DEFAULT_N3_RELAYER_FUNDS,
    admin_funds: int = 2_000 * GAS_FACTOR,
    extra_funding: Mapping[types.UInt160, int] | None = None,
) -> N3Deployment:
    """Fund ``admin``, the relayer and ``extra_funding`` in one transaction, then deploy from ``admin``."""
    relayer = types.UInt160.from_string(keys.relayer_script_hash)
    await chain.fund({admin.script_hash: admin_funds, relayer: relayer_funds, **(extra_funding or {})})
    return await deploy_n3_nsl(
        chain.rpc_url,
        admin,
        build_n3_contracts(),
        enclave_public_key=keys.enclave_public_key,
        measurement=measurement,
        vrf_public_key=keys.vrf_public_key,
        vrf_key_version=keys.vrf_key_version,
    )


def register_evm_config_hashes(chain: EvmDevnet, hashes: Mapping[str, bytes]) -> None:
    """Register each feed's config hash (``NSLPriceFeed`` address -> 32 bytes) as the feeds' owner, dev
    account 0 (``deploy_evm``'s deployer): until then a feed takes no report (``ConfigNotSet``)."""
    w3 = chain.web3()
    owner = chain.accounts[0].signer
    artifact = build_evm_contracts()["NSLPriceFeed"]
    for address, config_hash in hashes.items():
        transact(w3, owner, contract_at(w3, artifact, address).functions.setConfigHash(config_hash))


async def register_n3_config_hashes(
    rpc_url: str, owner: account.Account, contract: str, hashes: Mapping[str, bytes]
) -> None:
    """Register each pair's config hash (pair -> 32 bytes) on the N3 feed ``contract`` (``0x`` display
    form) as its owner (``deploy_n3``'s admin), in one transaction."""
    feed = GenericContract(types.UInt160.from_string(contract.removeprefix("0x")))
    calls = [feed.call_function("set_config_hash", [pair, h]) for pair, h in hashes.items()]
    receipt = await facade_for(rpc_url, owner).invoke_multi(calls)
    if str(receipt.state) != "HALT":  # neo-mamba hands over the RPC's string
        raise N3TransactionFailed(f"set_config_hash FAULTed: {receipt.exception}")

"""``nsl devnet up``: both local chains, detached, with the NSL contracts deployed.

Starts anvil (Prague) and a single-validator neo-go node (1 s blocks) with their files under
``<data_dir>/devnet/{evm,neo-n3}``, creates (first use) the platform's keys through the enclave, deploys
the contracts registering the enclave's identity keys and the platform VRF keys, funds the relayers and
a test account, designates the enclave's N3 oracle key for the native Oracle role (docs/oracle.md §9),
starts the exchange simulator (its own CA, prices on a random walk) and creates the four shipped price
feeds on it in the platform's database, published to both chains (``devnet.feeds``), registers each
feed's config hash on its contracts as their owner (the contracts take no round before), detaches the chains
and the simulator (they outlive the command), writes ``state.json`` and sets ``evm_rpc_url``,
``evm_gateway_address``, ``n3_rpc_url``, ``n3_gateway_hash``, ``n3_native_oracle``, ``oracle_ca_file``
and ``oracle_allow_private_hosts`` (flat names of ``settings.evm.rpc_url``, …) at the top of the NSL
TOML file.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neo_service_layer.chains.devnet import DEFAULT_EVM_BLOCK_TIME_SECONDS, config_file
from neo_service_layer.chains.devnet.errors import DevnetBusy, DevnetUnhealthy
from neo_service_layer.chains.devnet.local_chain import LocalChain
from neo_service_layer.chains.devnet.stack import CONFIG_COMMENT, EVM, N3, config_values, rpc, status
from neo_service_layer.chains.devnet.state import (
    ChainRecord,
    DevnetState,
    SimulatorRecord,
    devnet_dir,
    load_state,
    remove_state,
    save_state,
    state_path,
)
from neo_service_layer.chains.evm.devnet import EvmDevnet
from neo_service_layer.chains.neo_n3.devnet import GAS_FACTOR, N3Devnet, devnet_account, write_devnet_wallet
from neo_service_layer.chains.neo_n3.oracle_role import designate_oracle_nodes
from neo_service_layer.config import Settings
from neo_service_layer.db.session import Database
from neo_service_layer.devnet.feeds import create_devnet_feeds, evm_pair, start_devnet_simulator
from neo_service_layer.devnet.platform import (
    deploy_evm,
    deploy_n3,
    register_evm_config_hashes,
    register_n3_config_hashes,
    running_enclave,
)
from neo_service_layer.enclave.crypto import neo
from neo_service_layer.enclave.opdefs.n3_oracle import N3_ORACLE_PUBLIC_KEY
from neo_service_layer.enclave.schemas import NoArgs
from neo_service_layer.services.accounts.first_start import ensure_system_account
from neo_service_layer.services.keys.platform import evm_platform_keys, n3_platform_keys

N3_TEST_ACCOUNT_FUNDS = 1_000 * GAS_FACTOR
N3_WALLET_FILENAME = "accounts.json"
LOCK_FILENAME = "up.lock"
DEFAULT_ACTOR = "nsl devnet up"


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """One ``up`` at a time per data directory (``flock``; released when the process ends)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise DevnetBusy(f"another nsl devnet up is running on {path.parent}") from e
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@dataclass(frozen=True, slots=True)
class UpResult:
    state: DevnetState
    started: bool  # False: a healthy devnet was already up and nothing changed
    config_file: Path
    admin_key: str | None = None  # the bootstrap admin key, when ``up`` bootstrapped the database


def _silent(step: str) -> None:
    """The default ``progress``: say nothing."""


async def up(
    settings: Settings,
    *,
    evm_block_time: int = DEFAULT_EVM_BLOCK_TIME_SECONDS,
    progress: Callable[[str], None] = _silent,
    actor: str = DEFAULT_ACTOR,
) -> UpResult:
    """Start both chains and deploy (see the module doc); a no-op when a healthy devnet is recorded.

    A recorded devnet that is partly down raises :class:`DevnetUnhealthy` (``down`` first). On any
    failure the chains started here are stopped; their logs stay under ``<data_dir>/devnet``.
    ``progress`` is told each step as it starts (for people watching a terminal); ``actor`` is who the
    audit log names for the feeds created.
    """
    config = config_file.config_path(settings)
    base = devnet_dir(settings.data_dir)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_exclusive(base / LOCK_FILENAME))
        current = load_state(settings.data_dir)
        if current is not None:
            if not status(settings).healthy:
                recorded = state_path(settings.data_dir)
                raise DevnetUnhealthy(f"the devnet in {recorded} is partly down: nsl devnet down first")
            return UpResult(current, started=False, config_file=config)
        config_file.current_values(config)  # an unreadable config file fails now, before anything starts
        progress("preparing the database and the system account")
        admin_key = await ensure_system_account(settings)
        progress("starting anvil (EVM) and neo-go (Neo N3)")
        evm = stack.enter_context(EvmDevnet(workdir=base / EVM))
        n3 = stack.enter_context(N3Devnet(workdir=base / N3))
        db = Database(settings.effective_database_url)
        progress("starting the enclave; creating the platform's keys")
        try:
            async with running_enclave(settings, base / "enclave.log") as enclave:
                measurement = bytes.fromhex((await enclave.attest()).measurement)
                evm_keys = await evm_platform_keys(db, enclave, evm.chain_id)
                n3_keys = await n3_platform_keys(db, enclave, n3.magic)
                oracle_key = (await enclave.run(N3_ORACLE_PUBLIC_KEY, NoArgs())).public_key
        finally:
            await db.dispose()
        progress("EVM: compiling and deploying the gateway, verifier, price feeds and example consumers")
        evm_deployment = deploy_evm(evm, evm_keys, measurement)
        progress(
            "Neo N3: compiling and deploying the gateway, price feeds and example consumers"
            " (a first build takes ~25 s)"
        )
        admin, tester = devnet_account("admin"), devnet_account("test")
        write_devnet_wallet(n3.workdir / N3_WALLET_FILENAME, [admin, tester])
        n3_deployment = await deploy_n3(
            n3, n3_keys, measurement, admin, extra_funding={tester.script_hash: N3_TEST_ACCOUNT_FUNDS}
        )
        # The enclave answers the devnet's native oracle requests (docs/oracle.md §9).
        await designate_oracle_nodes(n3.rpc_url, n3.committee, [oracle_key])
        evm_record = _record(
            evm,
            evm.chain_id,
            evm_deployment.to_dict(),
            {
                "deployer": evm.accounts[0].address,
                "test": evm.accounts[1].address,
                "relayer": evm_keys.relayer,
                "enclave_signer": evm_keys.enclave_signer,
            },
        )
        n3_record = _record(
            n3,
            n3.magic,
            n3_deployment.to_dict(),
            {
                "deployer": admin.address,
                "test": tester.address,
                "relayer": n3_keys.relayer_address,
                "committee": n3.committee.address,
                "oracle": neo.address(oracle_key),
                "wallet": str(n3.workdir / N3_WALLET_FILENAME),
            },
        )
        progress("starting the exchange simulator; creating the price feeds NEO, GAS, BTC and ETH / USD")
        simulator, ca_file = start_devnet_simulator(base)
        stack.callback(simulator.stop)  # a no-op once detached
        n3_feed = str(n3_deployment.to_dict()["price_feed"])
        hashes = await create_devnet_feeds(
            settings, actor, simulator.base_url, evm_deployment.price_feeds, n3_feed
        )
        progress("registering each feed's config hash on both chains as the feeds' owner")
        evm_hashes = {a: hashes[evm_pair(d)] for d, a in evm_deployment.price_feeds.items()}
        register_evm_config_hashes(evm, evm_hashes)
        await register_n3_config_hashes(n3.rpc_url, admin, n3_feed, hashes)
        if evm_block_time > 0:  # deployed with automine (a block per transaction), then timed blocks
            rpc(evm.rpc_url, "evm_setIntervalMining", [evm_block_time])
        exchanges = SimulatorRecord(
            pid=simulator.pid,
            port=simulator.port,
            base_url=simulator.base_url,
            workdir=str(simulator.workdir),
            log=str(simulator.log),
            ca_file=str(ca_file),
            feeds=list(hashes),
        )
        state = DevnetState(evm=evm_record, n3=n3_record, exchanges=exchanges)
        save_state(settings.data_dir, state)
        try:
            config_file.set_keys(config, config_values(state), comment=CONFIG_COMMENT)
        except BaseException:
            remove_state(settings.data_dir)  # the chains stop on the way out: nothing recorded
            raise
        evm.detach()
        n3.detach()
        simulator.detach()
    return UpResult(state, started=True, config_file=config, admin_key=admin_key)


def _record(
    chain: LocalChain, network: int, contracts: dict[str, Any], accounts: dict[str, str]
) -> ChainRecord:
    """The state file's record of a running ``chain`` (process, URL and files read from the chain itself)."""
    return ChainRecord(
        pid=chain.pid,
        rpc_url=chain.rpc_url,
        workdir=str(chain.workdir),
        log=str(chain.workdir / chain.log_file),
        network=network,
        contracts=contracts,
        accounts=accounts,
    )

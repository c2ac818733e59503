"""EvmDevnet: a real anvil, Prague, funded accounts, clean start/stop."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from neo_service_layer.chains.devnet.processes import pid_alive, terminate
from neo_service_layer.chains.evm.devnet import DEFAULT_CHAIN_ID, EvmDevnet
from neo_service_layer.chains.evm.errors import DevnetFailed
from neo_service_layer.enclave.crypto import dyvrf

G1ADD = Web3.to_checksum_address("0x" + "00" * 19 + "0b")


def test_session_devnet_is_prague_with_funded_accounts(devnet: EvmDevnet) -> None:
    w3 = devnet.web3()
    assert w3.eth.chain_id == DEFAULT_CHAIN_ID
    assert devnet.rpc_url.startswith("http://127.0.0.1:")
    accounts = devnet.accounts
    assert len(accounts) == 10
    assert w3.eth.get_balance(accounts[9].address) > 1_000 * 10**18
    assert accounts[0].signer.address == accounts[0].address
    assert accounts[0].private_key not in repr(accounts[0])
    # EIP-2537 is live: G1ADD(G1, G1) returns a 128-byte point.
    g1 = dyvrf.EIP2537_G1_GENERATOR
    assert len(w3.eth.call({"to": G1ADD, "data": g1 + g1})) == 128


def test_fund_transfers_wei(devnet: EvmDevnet) -> None:
    newcomer = Account.create().address
    devnet.fund(newcomer, 12345)
    assert devnet.web3().eth.get_balance(newcomer) == 12345


def test_start_and_stop_are_idempotent() -> None:
    chain = EvmDevnet(chain_id=4242, accounts=1)
    chain.start()
    chain.start()
    try:
        assert chain.running
        assert chain.web3().eth.chain_id == 4242
    finally:
        chain.stop()
    chain.stop()
    assert not chain.running
    with pytest.raises(DevnetFailed):
        _ = chain.rpc_url


def test_unknown_hardfork_fails_with_anvil_message() -> None:
    with pytest.raises(DevnetFailed, match="anvil did not start"):
        EvmDevnet(hardfork="no-such-fork", startup_timeout=5).start()


def test_detach_leaves_anvil_running_in_its_workdir(tmp_path: Path) -> None:
    with EvmDevnet(chain_id=4243, accounts=1, workdir=tmp_path / "evm") as chain:
        url, pid = chain.rpc_url, chain.pid
        assert chain.detach() == pid
        assert not chain.running
    try:  # stop() on exit left the detached process alone, and kept its files
        assert pid_alive(pid, str(tmp_path / "evm"))
        assert Web3(Web3.HTTPProvider(url)).eth.chain_id == 4243
        assert (tmp_path / "evm" / "anvil.log").is_file()
    finally:
        assert terminate(pid, str(tmp_path / "evm"))
    assert not pid_alive(pid)


def test_only_a_devnet_with_a_workdir_detaches() -> None:
    with EvmDevnet(chain_id=4244, accounts=1) as chain, pytest.raises(DevnetFailed, match="workdir"):
        chain.detach()

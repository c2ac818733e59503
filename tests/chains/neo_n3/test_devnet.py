"""The neo-go devnet: a second chain next to the session's starts, answers, stops cleanly; funding works."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from neo3.api.wrappers import GasToken
from neo3.wallet.account import Account

from neo_service_layer.chains.devnet.processes import pid_alive, terminate
from neo_service_layer.chains.neo_n3.devnet import DEFAULT_BLOCK_TIME_MS, GAS_FACTOR, N3Devnet
from neo_service_layer.chains.neo_n3.errors import N3DevnetFailed
from tests.chains.neo_n3.helpers import stack_int, test_invoke


def test_status_of_the_session_chain(n3_devnet: N3Devnet) -> None:
    status = n3_devnet.status()
    assert status["running"] is True
    assert status["magic"] == n3_devnet.magic
    assert status["block_count"] >= 2
    assert status["committee"] == n3_devnet.committee.address
    version = n3_devnet.rpc("getversion")
    assert version["protocol"]["network"] == n3_devnet.magic
    assert version["protocol"]["msperblock"] == n3_devnet.block_time_ms
    assert len(n3_devnet.validator_public_key) == 33


def test_up_down_idempotent() -> None:
    chain = N3Devnet(magic=4242)
    assert chain.status() == {"running": False}
    with pytest.raises(N3DevnetFailed):
        _ = chain.rpc_url
    started = time.monotonic()
    with chain:
        chain.start()  # no-op while running
        assert chain.running
        protocol = chain.rpc("getversion")["protocol"]
        assert (protocol["network"], protocol["msperblock"]) == (4242, DEFAULT_BLOCK_TIME_MS)
        print(f"\nneo-go devnet ready in {time.monotonic() - started:.2f} s")
    assert not chain.running
    chain.stop()  # idempotent
    with pytest.raises(N3DevnetFailed):
        chain.rpc("getblockcount")


def test_a_missing_binary_fails_clearly(tmp_path: Path) -> None:
    chain = N3Devnet(neogo=tmp_path / "neogo")
    with pytest.raises(N3DevnetFailed, match="cannot run"):
        chain.start()
    assert not chain.running


async def test_fund(n3_devnet: N3Devnet) -> None:
    account = Account.create_new()
    await n3_devnet.fund({account.script_hash: 3 * GAS_FACTOR})
    balance = GasToken().balance_of(account.script_hash)  # type: ignore[no-untyped-call]
    reply = test_invoke(n3_devnet.rpc_url, balance, n3_devnet.committee)
    assert stack_int(reply.stack[0]) == 3 * GAS_FACTOR


def test_detach_leaves_the_node_running_in_its_workdir(tmp_path: Path) -> None:
    workdir = tmp_path / "n3"
    with N3Devnet(magic=4243, workdir=workdir) as chain:
        url, pid = chain.rpc_url, chain.pid
        assert chain.detach() == pid
        assert not chain.running
    try:  # stop() on exit left the detached process alone, and kept its files
        assert pid_alive(pid, str(workdir))
        reply = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "getversion", "params": []})
        assert reply.json()["result"]["protocol"]["network"] == 4243
        assert (workdir / "neogo.log").is_file()
    finally:
        assert terminate(pid, str(workdir))
    assert not pid_alive(pid)


def test_only_a_devnet_with_a_workdir_detaches() -> None:
    with N3Devnet(magic=4244) as chain, pytest.raises(N3DevnetFailed, match="workdir"):
        chain.detach()

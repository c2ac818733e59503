"""``nsl devnet up | status | down`` as real processes: real anvil and neo-go, the real enclave.

One devnet for the package (``conftest.devnet``, shared with test_devnet_demo.py); the test that kills
a chain runs last.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import json
import logging
import os
import signal
import sqlite3
import ssl
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner
from web3 import Web3

from neo_service_layer.chains.devnet.processes import pid_alive
from neo_service_layer.chains.evm.build import build_contracts
from neo_service_layer.chains.evm.deploy import contract_at
from neo_service_layer.cli import devnet as devnet_cli
from neo_service_layer.cli.main import app
from neo_service_layer.db.session import Database
from neo_service_layer.devnet.platform import spawn_enclave, wait_for_enclave
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.crypto import neo
from neo_service_layer.enclave.schemas import AttestationReport
from neo_service_layer.services.pricefeed.models import PriceFeed
from neo_service_layer.services.pricefeed.observation import feed_config_hash
from tests.cli.devnet_helpers import UNRELATED, Devnet, rpc

pytestmark = pytest.mark.slow
GAS_HASH = "0xd2a4cff31913016155e38e474a2c06d08be276cf"
CONFIG_KEYS = ("evm_rpc_url", "evm_gateway_address", "n3_rpc_url", "n3_gateway_hash", "n3_native_oracle")


def test_up_writes_state_and_config(devnet: Devnet) -> None:
    assert "First start. Admin API key" in devnet.up_output
    assert "… starting anvil (EVM) and neo-go (Neo N3)" in devnet.up_output  # progress, for people
    state = devnet.state()
    assert state["version"] == 1
    assert state["evm"]["network"] == 31337
    assert state["n3"]["network"] == 56753
    for chain in ("evm", "n3"):
        record = state[chain]
        assert pid_alive(record["pid"], record["workdir"])
        assert record["rpc_url"].startswith("http://127.0.0.1:")
        assert Path(record["log"]).is_file()
        assert {"deployer", "test", "relayer"} <= set(record["accounts"])
    assert set(state["evm"]["contracts"]["examples"]) >= {
        "RandomnessConsumer",
        "OracleConsumer",
        "FunctionsConsumer",
    }
    assert set(state["evm"]["contracts"]["price_feeds"]) == {
        "NEO / USD",
        "GAS / USD",
        "BTC / USD",
        "ETH / USD",
    }
    assert {f"PriceFeedConsumer {p} / USD" for p in ("NEO", "GAS", "BTC", "ETH")} <= set(
        state["evm"]["contracts"]["examples"]
    )
    assert set(state["n3"]["contracts"]["examples"]) == {
        "RandomnessConsumer",
        "OracleConsumer",
        "FunctionsConsumer",
        "PriceFeedConsumer",
    }
    assert state["n3"]["contracts"]["feeds"] == {"NEO/USD": 8, "GAS/USD": 8, "BTC/USD": 8, "ETH/USD": 8}
    # Public data only: no anvil dev key (the well-known ones) in the state file.
    anvil_keys = json.loads((Path(state["evm"]["workdir"]) / "config.json").read_text())["private_keys"]
    text = devnet.state_file.read_text().lower()
    assert not any(key.lower().removeprefix("0x") in text for key in anvil_keys)
    assert "private" not in text

    config = tomllib.loads(devnet.config_file.read_text())
    assert config == {
        "log_level": "warning",
        "evm_rpc_url": state["evm"]["rpc_url"],
        "evm_gateway_address": state["evm"]["contracts"]["gateway"],
        "n3_rpc_url": state["n3"]["rpc_url"],
        "n3_gateway_hash": state["n3"]["contracts"]["gateway"],
        "n3_native_oracle": True,
        "oracle_ca_file": state["exchanges"]["ca_file"],
        "oracle_allow_private_hosts": True,
    }
    assert devnet.config_file.read_text().startswith(UNRELATED)


def test_up_starts_the_exchange_simulator_and_the_feeds(devnet: Devnet) -> None:
    """The simulator runs detached, over TLS with the devnet's CA (what the config makes the fetcher
    trust), and the four feeds are in the platform's database, enabled, on it and on both chains."""
    state = devnet.state()
    sim = state["exchanges"]
    assert "… starting the exchange simulator" in devnet.up_output
    assert pid_alive(sim["pid"], sim["workdir"])
    assert sim["base_url"] == f"https://127.0.0.1:{sim['port']}"
    assert Path(sim["log"]).is_file()
    trust = ssl.create_default_context(cafile=sim["ca_file"])
    reply = httpx.get(f"{sim['base_url']}/_sim/state", verify=trust, timeout=10)
    markets = {(p["exchange"], p["symbol"]) for p in reply.json()["prices"]}
    assert ("binance", "NEOUSDT") in markets
    with pytest.raises(httpx.ConnectError):  # its own CA, not the system's
        httpx.get(f"{sim['base_url']}/_sim/state", timeout=10)

    pairs = ["NEO/USD", "GAS/USD", "BTC/USD", "ETH/USD"]
    assert sim["feeds"] == pairs
    with contextlib.closing(sqlite3.connect(devnet.data_dir / "nsl.db")) as connection:
        rows = connection.execute("SELECT pair, enabled, sources, targets FROM price_feeds").fetchall()
    feeds = {
        pair: (enabled, json.loads(sources), json.loads(targets)) for pair, enabled, sources, targets in rows
    }
    assert sorted(feeds) == sorted(pairs)
    evm_feeds, n3_feed = state["evm"]["contracts"]["price_feeds"], state["n3"]["contracts"]["price_feed"]
    for pair, (enabled, sources, targets) in feeds.items():
        assert enabled
        assert len(sources) >= 3
        assert {source["base_url"] for source in sources} == {sim["base_url"]}
        evm_feed = evm_feeds[pair.replace("/", " / ")]
        assert [(t["chain"], t.get("feed") or t.get("contract")) for t in targets] == [
            ("evm", evm_feed.lower()),
            ("n3", n3_feed),
        ]


def _config_hashes(devnet: Devnet) -> dict[str, bytes]:
    """Each feed's config hash, computed from its row as the poller does."""

    async def read() -> dict[str, bytes]:
        db = Database(f"sqlite+aiosqlite:///{devnet.data_dir / 'nsl.db'}")
        try:
            async with db.session(for_read=True) as session:
                feeds = (await session.execute(select(PriceFeed))).scalars()
                return {feed.pair: feed_config_hash(feed) for feed in feeds}
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_up_registers_each_feeds_config_hash_on_both_chains(devnet: Devnet) -> None:
    """Without it the contracts take no round (ConfigNotSet / "config hash not set")."""
    hashes = _config_hashes(devnet)
    assert len(set(hashes.values())) == 4
    state = devnet.state()
    w3 = Web3(Web3.HTTPProvider(state["evm"]["rpc_url"]))
    n3 = state["n3"]
    for pair, expected in hashes.items():
        address = state["evm"]["contracts"]["price_feeds"][pair.replace("/", " / ")]
        feed = contract_at(w3, build_contracts()["NSLPriceFeed"], address)
        assert bytes(feed.functions.configHash().call()) == expected, pair
        args = [{"type": "String", "value": pair}]
        reply = rpc(n3["rpc_url"], "invokefunction", [n3["contracts"]["price_feed"], "config_hash", args])
        assert base64.b64decode(reply["stack"][0]["value"]) == expected, pair


def test_config_is_what_nsl_reads(devnet: Devnet) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "neo_service_layer.cli.main", "config", "show"],
        env=devnet.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    shown = json.loads(result.stdout)
    state = devnet.state()
    assert shown["evm"]["gateway_address"] == state["evm"]["contracts"]["gateway"]
    assert shown["n3"]["rpc_url"] == state["n3"]["rpc_url"]
    assert shown["n3"]["native_oracle"] is True


def test_contracts_are_deployed(devnet: Devnet) -> None:
    evm = devnet.state()["evm"]
    contracts = evm["contracts"]
    addresses = [
        contracts["gateway"],
        contracts["verifier"],
        *contracts["price_feeds"].values(),
        *contracts["examples"].values(),
    ]
    for address in addresses:
        assert len(rpc(evm["rpc_url"], "eth_getCode", [address, "latest"])) > 2, address
    n3 = devnet.state()["n3"]
    for name, script_hash in [
        ("NSLGateway", n3["contracts"]["gateway"]),
        ("NSLPriceFeed", n3["contracts"]["price_feed"]),
        *n3["contracts"]["examples"].items(),
    ]:
        state = rpc(n3["rpc_url"], "getcontractstate", [script_hash])
        assert state["hash"] == script_hash
        assert state["manifest"]["name"].startswith("NSL"), name


def test_relayers_and_test_accounts_are_funded(devnet: Devnet) -> None:
    evm, n3 = devnet.state()["evm"], devnet.state()["n3"]
    for role in ("relayer", "test"):
        balance = int(rpc(evm["rpc_url"], "eth_getBalance", [evm["accounts"][role], "latest"]), 16)
        assert balance >= 1_000 * 10**18, role
    for role in ("relayer", "test"):
        balances = rpc(n3["rpc_url"], "getnep17balances", [n3["accounts"][role]])["balance"]
        gas = [int(b["amount"]) for b in balances if b["assethash"] == GAS_HASH]
        assert gas, role
        assert gas[0] >= 1_000 * 10**8, role


def _attest(devnet: Devnet) -> AttestationReport:
    process = spawn_enclave(devnet.env, devnet.data_dir / "attest-enclave.log")

    async def attest() -> AttestationReport:
        client = UnixEnclaveClient(devnet.data_dir / "enclave" / "enclave.sock", timeout=10.0)
        try:
            await wait_for_enclave(client, process=process)
            return await client.attest()
        finally:
            await client.close()

    try:
        return asyncio.run(attest())
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)


def test_gateways_register_the_enclave_identity(devnet: Devnet) -> None:
    report = _attest(devnet)
    evm, n3 = devnet.state()["evm"], devnet.state()["n3"]
    assert evm["accounts"]["enclave_signer"] == report.identity.k1_address

    w3 = Web3(Web3.HTTPProvider(evm["rpc_url"]))
    gateway = contract_at(w3, build_contracts()["NSLGateway"], evm["contracts"]["gateway"])
    assert gateway.functions.enclaveSigner().call() == Web3.to_checksum_address(report.identity.k1_address)
    assert bytes(gateway.functions.enclaveMeasurement().call()).hex() == report.measurement
    assert gateway.functions.vrfKeyVersion().call() == 1

    invoked = rpc(n3["rpc_url"], "invokefunction", [n3["contracts"]["gateway"], "get_enclave_key", []])
    assert invoked["state"] == "HALT"
    pubkey, measurement, version = invoked["stack"][0]["value"]
    assert base64.b64decode(pubkey["value"]).hex() == report.identity.p256
    assert base64.b64decode(measurement["value"]).hex() == report.measurement
    assert int(version["value"]) == 1
    vrf = rpc(n3["rpc_url"], "invokefunction", [n3["contracts"]["gateway"], "get_vrf_key", []])
    assert len(base64.b64decode(vrf["stack"][0]["value"])) == 48


def test_the_enclave_oracle_key_is_designated_for_the_native_oracle(devnet: Devnet) -> None:
    n3 = devnet.state()["n3"]
    height = int(rpc(n3["rpc_url"], "getblockcount")) - 1
    role_management = "0x49cf4e5378ffcd4dec034fd98a174c5491e395e2"
    args = [{"type": "Integer", "value": "8"}, {"type": "Integer", "value": str(height + 1)}]
    invoked = rpc(n3["rpc_url"], "invokefunction", [role_management, "getDesignatedByRole", args])
    assert invoked["state"] == "HALT"
    keys = [base64.b64decode(item["value"]) for item in invoked["stack"][0]["value"]]
    assert len(keys) == 1
    assert neo.address(keys[0]) == n3["accounts"]["oracle"]


def test_status_shows_heights(devnet: Devnet) -> None:
    result = devnet.nsl("status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["evm", "running"],
        ["neo-n3", "running"],
        ["exchanges", "running"],
    ]
    assert all("height" in line for line in lines[:2])
    assert "feeds NEO/USD, GAS/USD, BTC/USD, ETH/USD" in lines[2]
    shown = json.loads(devnet.nsl("status", "--json").stdout)
    assert shown["up"] is True
    assert shown["chains"]["evm"]["height"] >= 1
    assert shown["chains"]["neo-n3"]["height"] >= 1
    assert shown["chains"]["neo-n3"]["contracts"]["gateway"] == devnet.state()["n3"]["contracts"]["gateway"]
    sim = devnet.state()["exchanges"]
    assert shown["exchanges"] == {
        "running": True,
        "pid": sim["pid"],
        "base_url": sim["base_url"],
        "feeds": ["NEO/USD", "GAS/USD", "BTC/USD", "ETH/USD"],
    }


def test_second_up_is_a_no_op(devnet: Devnet) -> None:
    before = devnet.state_file.read_bytes(), devnet.config_file.read_bytes()
    result = devnet.nsl("up")
    assert result.returncode == 0, result.stderr
    assert "already up; nothing changed" in result.stdout
    assert (devnet.state_file.read_bytes(), devnet.config_file.read_bytes()) == before


def test_partly_down_then_down(devnet: Devnet) -> None:
    """Runs last: anvil dies; status says so, up refuses, down stops the rest and cleans up."""
    state = devnet.state()
    os.kill(state["evm"]["pid"], signal.SIGKILL)
    status = devnet.nsl("status")
    assert status.returncode == 1
    assert "evm     DOWN" in status.stdout
    up = devnet.nsl("up")
    assert up.returncode == 2
    assert "[devnet_unhealthy]" in up.stderr
    assert "Traceback" not in up.stderr

    down = devnet.nsl("down")
    assert down.returncode == 0, down.stderr
    assert "stopped: neo-n3, exchanges" in down.stdout
    for chain in ("evm", "n3", "exchanges"):
        assert not pid_alive(state[chain]["pid"])
    assert not devnet.state_file.exists()
    assert devnet.config_file.read_text() == UNRELATED
    after = devnet.nsl("status")
    assert after.returncode == 1
    assert "no devnet" in after.stdout
    again = devnet.nsl("down")
    assert again.returncode == 0
    assert "nothing to do" in again.stdout


runner = CliRunner()


@pytest.fixture
def empty_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NSL_DATA_DIR", str(tmp_path))
    return tmp_path


def test_down_and_status_with_nothing_up(empty_data_dir: Path) -> None:
    down = runner.invoke(app, ["devnet", "down"])
    assert down.exit_code == 0
    assert "no devnet is up; nothing to do" in down.output
    status = runner.invoke(app, ["devnet", "status", "--json"])
    assert status.exit_code == 1
    assert json.loads(status.output) == {"up": False, "recorded": False, "chains": {}, "exchanges": None}


@pytest.mark.parametrize("command", ["status", "down", "up"])
def test_corrupt_state_is_a_clean_error(empty_data_dir: Path, command: str) -> None:
    (empty_data_dir / "devnet").mkdir()
    (empty_data_dir / "devnet" / "state.json").write_text("{not json")
    result = runner.invoke(app, ["devnet", command])
    assert result.exit_code == 2
    assert "Error: [devnet_state_invalid]" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_second_concurrent_up_is_refused(empty_data_dir: Path) -> None:
    lock_path = empty_data_dir / "devnet" / "up.lock"
    lock_path.parent.mkdir()
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running ``up`` holds it
        result = runner.invoke(app, ["devnet", "up"])
    assert result.exit_code == 2
    assert "Error: [devnet_busy]" in result.output
    assert not (empty_data_dir / "devnet" / "evm").exists()


def test_an_invalid_config_file_starts_nothing(empty_data_dir: Path) -> None:
    (empty_data_dir / "nsl.toml").write_text("port = = 1\n")
    result = runner.invoke(app, ["devnet", "up"])
    assert result.exit_code == 2
    assert "Error: [configuration_error]" in result.output
    assert not (empty_data_dir / "devnet" / "evm").exists()
    assert (empty_data_dir / "nsl.toml").read_text() == "port = = 1\n"


def test_devnet_commands_configure_logs_for_people(
    empty_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NSL_LOG_FORMAT's default ``auto`` reaches logging (console on a terminal: tests/test_logging.py);
    alembic's per-migration lines are kept below the progress lines."""
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(devnet_cli, "configure_logging", lambda level, fmt: calls.append((level, fmt)))
    alembic = logging.getLogger("alembic")
    alembic.setLevel(logging.NOTSET)
    try:
        assert runner.invoke(app, ["devnet", "status"]).exit_code == 1
        assert calls == [("info", "auto")]
        assert alembic.level >= logging.WARNING
    finally:
        alembic.setLevel(logging.NOTSET)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["randomness", "--chain", "btc"], "one of evm, n3", id="unknown-chain"),
        pytest.param(["randomness", "--seed", "zz"], "hex bytes", id="seed-not-hex"),
        pytest.param(["oracle", "--chain", "n3"], "[devnet_not_up]", id="no-devnet"),
        pytest.param(
            ["oracle", "--chain", "n3", "--extract", "bool"], "for --chain evm only", id="extract-on-n3"
        ),
        pytest.param(["oracle", "--extract", "float"], "type[:decimals]", id="extract-unknown"),
        pytest.param(["randomness", "--chain", "evm"], "[devnet_not_up]", id="no-devnet-randomness"),
        pytest.param(["pricefeed", "--pair", "XRP/USD"], "one of NEO/USD, GAS/USD", id="unknown-pair"),
        pytest.param(["pricefeed", "--price", "abc"], "a decimal number", id="price-not-decimal"),
        pytest.param(["pricefeed", "--price", "-1"], "a positive decimal", id="price-negative"),
        pytest.param(["pricefeed", "--price", "NaN"], "a positive decimal", id="price-nan"),
        pytest.param(["pricefeed", "--chain", "n3"], "[devnet_not_up]", id="no-devnet-pricefeed"),
        pytest.param(["functions", "--chain", "n3"], "[devnet_not_up]", id="no-devnet-functions"),
        pytest.param(["functions", "--chain", "sol"], "one of evm, n3", id="functions-unknown-chain"),
    ],
)
def test_demo_refuses_before_sending(empty_data_dir: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["devnet", "demo", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert result.exception is None or isinstance(result.exception, SystemExit)

"""The session's devnet for the ``nsl devnet`` tests (``conftest.devnet``): where it lives, and ``nsl``
run as a real process against it."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
UNRELATED = '# the operator\'s own settings\nlog_level = "warning"\n'


@dataclass(frozen=True)
class Devnet:
    data_dir: Path
    env: dict[str, str]
    up_output: str

    @property
    def state_file(self) -> Path:
        return self.data_dir / "devnet" / "state.json"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "nsl.toml"

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.state_file.read_text())
        return data

    def nsl(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return nsl(self.env, *args, timeout=timeout)


def nsl(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``nsl devnet <args>`` as a process."""
    return subprocess.run(
        [sys.executable, "-m", "neo_service_layer.cli.main", "devnet", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    reply = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).json()
    assert "error" not in reply, reply
    return reply["result"]


def feed_latest(devnet: Devnet, chain: str, pair: str) -> tuple[int, int, int] | None:
    """(round id, answer, observed at) of ``pair``'s devnet feed on ``chain`` ("evm" | "n3"), read from
    the chain; None before its first round."""
    from web3 import Web3
    from web3.exceptions import ContractLogicError

    from neo_service_layer.chains.evm.build import build_contracts
    from neo_service_layer.chains.evm.deploy import contract_at

    state = devnet.state()
    if chain == "evm":
        w3 = Web3(Web3.HTTPProvider(state["evm"]["rpc_url"]))
        address = state["evm"]["contracts"]["price_feeds"][pair.replace("/", " / ")]
        feed = contract_at(w3, build_contracts()["NSLPriceFeed"], address)
        try:
            round_id, answer, _, updated_at, _ = feed.functions.latestRoundData().call()
        except ContractLogicError:  # NoDataPresent
            return None
        return int(round_id), int(answer), int(updated_at)
    n3 = state["n3"]
    args = [{"type": "String", "value": pair}]
    reply = rpc(n3["rpc_url"], "invokefunction", [n3["contracts"]["price_feed"], "latest_round_data", args])
    if reply["state"] != "HALT":  # "no data present"
        return None
    round_id, answer, _, updated_at, _ = (int(item["value"]) for item in reply["stack"][0]["value"])
    return round_id, answer, updated_at

"""``nsl devnet status | down``: the recorded devnet (``state.json``) by pid and RPC; ``up`` is in ``up``.

``status`` reports each chain (process alive and RPC answering, height, contracts) and the exchange
simulator (alive and answering over TLS, the feeds on it); ``down`` stops the recorded processes by
pid and removes what ``up`` wrote; it is idempotent. Kept apart from ``up`` so that these commands
never import the chain libraries (web3, neo-mamba: a second of start-up).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from neo_service_layer.chains.devnet import config_file, processes, simulator
from neo_service_layer.chains.devnet.state import (
    ChainRecord,
    DevnetState,
    SimulatorRecord,
    load_state,
    remove_state,
)
from neo_service_layer.config import Settings

CONFIG_COMMENT = "# nsl devnet (removed by nsl devnet down)"
_RPC_TIMEOUT_SECONDS = 2.0
EVM, N3, EXCHANGES = "evm", "neo-n3", "exchanges"
#: What ``up`` writes to the NSL config (and ``down`` removes).
CHAIN_CONFIG_KEYS = (
    "evm_rpc_url",
    "evm_gateway_address",
    "n3_rpc_url",
    "n3_gateway_hash",
    "n3_native_oracle",
)
#: The enclave's fetcher reaches the exchange simulator: it trusts the devnet's CA, and 127.0.0.1.
SIMULATOR_CONFIG_KEYS = ("oracle_ca_file", "oracle_allow_private_hosts")
CONFIG_KEYS = CHAIN_CONFIG_KEYS + SIMULATOR_CONFIG_KEYS


@dataclass(frozen=True, slots=True)
class ChainStatus:
    """One chain as ``status`` shows it: ``running`` = its process is alive and its RPC answers."""

    name: str
    running: bool
    pid: int
    rpc_url: str
    height: int | None
    network: int
    contracts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SimulatorStatus:
    """The exchange simulator as ``status`` shows it: ``running`` = alive and answering over TLS."""

    running: bool
    pid: int
    base_url: str
    feeds: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DevnetStatus:
    recorded: bool  # a state file exists
    chains: tuple[ChainStatus, ...] = ()
    exchanges: SimulatorStatus | None = None  # None: not recorded (a state from before the simulator)

    @property
    def healthy(self) -> bool:
        simulator_ok = self.exchanges is None or self.exchanges.running
        return self.recorded and all(c.running for c in self.chains) and simulator_ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "up": self.healthy,
            "recorded": self.recorded,
            "chains": {
                c.name: {
                    "running": c.running,
                    "pid": c.pid,
                    "rpc_url": c.rpc_url,
                    "height": c.height,
                    "network": c.network,
                    "contracts": c.contracts,
                }
                for c in self.chains
            },
            "exchanges": None
            if self.exchanges is None
            else {
                "running": self.exchanges.running,
                "pid": self.exchanges.pid,
                "base_url": self.exchanges.base_url,
                "feeds": list(self.exchanges.feeds),
            },
        }


@dataclass(frozen=True, slots=True)
class DownResult:
    recorded: bool  # there was a devnet to take down
    stopped: tuple[str, ...] = ()  # chains (and "exchanges") whose process was running and got stopped
    config_keys_removed: bool = False


def rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
    return httpx.post(url, json=body, timeout=_RPC_TIMEOUT_SECONDS).json()["result"]


def _height(name: str, url: str) -> int | None:
    try:
        if name == EVM:
            return int(rpc(url, "eth_blockNumber"), 16)
        return int(rpc(url, "getblockcount")) - 1
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


def _chain_status(name: str, record: ChainRecord) -> ChainStatus:
    alive = processes.pid_alive(record.pid, record.workdir)
    height = _height(name, record.rpc_url) if alive else None
    return ChainStatus(
        name,
        alive and height is not None,
        record.pid,
        record.rpc_url,
        height,
        record.network,
        record.contracts,
    )


def _simulator_status(record: SimulatorRecord) -> SimulatorStatus:
    alive = processes.pid_alive(record.pid, record.workdir)
    running = alive and simulator.answers(record.base_url, record.ca_file)
    return SimulatorStatus(running, record.pid, record.base_url, tuple(record.feeds))


def status(settings: Settings) -> DevnetStatus:
    """Each recorded chain (process alive, RPC answering, height, contracts) and the exchange simulator."""
    state = load_state(settings.data_dir)
    if state is None:
        return DevnetStatus(recorded=False)
    exchanges = None if state.exchanges is None else _simulator_status(state.exchanges)
    return DevnetStatus(True, (_chain_status(EVM, state.evm), _chain_status(N3, state.n3)), exchanges)


def config_values(state: DevnetState) -> dict[str, str | int]:
    """The NSL config ``up`` writes for ``state`` (flat names of ``settings.evm.rpc_url``, …)."""
    values: tuple[str | int, ...] = (
        state.evm.rpc_url,
        state.evm.contracts["gateway"],
        state.n3.rpc_url,
        state.n3.contracts["gateway"],
        True,  # the enclave's N3 oracle key is designated: its worker answers native oracle requests
    )
    if state.exchanges is None:
        return dict(zip(CHAIN_CONFIG_KEYS, values, strict=True))
    values += (state.exchanges.ca_file, True)  # the fetcher trusts the devnet's CA and reaches 127.0.0.1
    return dict(zip(CONFIG_KEYS, values, strict=True))


def down(settings: Settings) -> DownResult:
    """Stop the recorded chains (SIGTERM, SIGKILL after a timeout), remove the state and config keys.

    Config keys are removed only while they still hold the devnet's values (an operator's own settings
    are left alone). Nothing recorded: nothing to do.
    """
    state = load_state(settings.data_dir)
    if state is None:
        return DownResult(recorded=False)
    stopped = tuple(
        name
        for name, record in ((EVM, state.evm), (N3, state.n3))
        if processes.terminate(record.pid, record.workdir)
    )
    if state.exchanges is not None and processes.terminate(state.exchanges.pid, state.exchanges.workdir):
        stopped += (EXCHANGES,)
    remove_state(settings.data_dir)  # the processes are gone: forget them even if the config edit fails
    config = config_file.config_path(settings)
    current = config_file.current_values(config)
    ours = [k for k, v in config_values(state).items() if current.get(k) == v]
    removed = config_file.remove_keys(config, ours, comment=CONFIG_COMMENT) if ours else False
    return DownResult(recorded=True, stopped=stopped, config_keys_removed=removed)

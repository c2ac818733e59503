"""``<data_dir>/devnet/state.json``: what ``nsl devnet up`` started, for ``status`` and ``down``.

Public data only — pids, RPC URLs, chain id / network magic, contract addresses and hashes, the public
addresses of the deployer, relayer and test accounts. No private key is ever written here (the
platform's keys live in the keys service; anvil's dev keys are well known and not repeated).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from neo_service_layer.chains.devnet.errors import DevnetStateInvalid

DEVNET_DIRNAME = "devnet"
STATE_FILENAME = "state.json"
STATE_VERSION = 1


def devnet_dir(data_dir: Path) -> Path:
    """Where the devnet's chains keep their files and logs."""
    return data_dir / DEVNET_DIRNAME


def state_path(data_dir: Path) -> Path:
    return devnet_dir(data_dir) / STATE_FILENAME


@dataclass(frozen=True, slots=True)
class ChainRecord:
    """One detached chain: its process, where it answers, and what was deployed on it."""

    pid: int
    rpc_url: str
    workdir: str  # also the marker that proves a pid is still this chain (processes.pid_alive)
    log: str
    network: int  # EVM chain id / N3 network magic
    contracts: dict[str, Any] = field(default_factory=dict)  # EvmDeployment / N3Deployment .to_dict()
    accounts: dict[str, str] = field(default_factory=dict)  # role -> public address


@dataclass(frozen=True, slots=True)
class SimulatorRecord:
    """The detached exchange simulator (``devnet.exchanges``): its process, where it answers (HTTPS,
    the devnet's own CA), and the price feeds ``up`` created on it."""

    pid: int
    port: int
    base_url: str
    workdir: str  # holds its certificate: the marker that proves a pid is still the simulator
    log: str
    ca_file: str  # the CA the platform's fetcher trusts for it (oracle_ca_file)
    feeds: list[str] = field(default_factory=list)  # the pairs created in the platform's database


@dataclass(frozen=True, slots=True)
class DevnetState:
    evm: ChainRecord
    n3: ChainRecord
    exchanges: SimulatorRecord | None = None  # None: a state written before the simulator existed
    version: int = STATE_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> DevnetState:
        try:
            if data["version"] != STATE_VERSION:
                raise DevnetStateInvalid(f"state file version {data['version']}, expected {STATE_VERSION}")
            exchanges = data.get("exchanges")
            return cls(
                evm=ChainRecord(**data["evm"]),
                n3=ChainRecord(**data["n3"]),
                exchanges=None if exchanges is None else SimulatorRecord(**exchanges),
            )
        except (KeyError, TypeError) as e:
            raise DevnetStateInvalid(f"state file lacks or mistypes a field: {e}") from e


def load_state(data_dir: Path) -> DevnetState | None:
    """The recorded devnet, or None when there is none."""
    path = state_path(data_dir)
    hint = f"stop anvil / neogo processes under {path.parent} by hand, then delete {path}"
    try:
        return DevnetState.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise DevnetStateInvalid(f"cannot read {path}: {e}; {hint}") from e
    except DevnetStateInvalid as e:
        raise DevnetStateInvalid(f"{e.detail}; {hint}") from e


def save_state(data_dir: Path, state: DevnetState) -> Path:
    path = state_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(state.to_dict(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def remove_state(data_dir: Path) -> bool:
    """Delete the state file; True if there was one."""
    try:
        state_path(data_dir).unlink()
    except FileNotFoundError:
        return False
    return True

"""status / down on a recorded devnet whose processes are gone (no chain needed): down forgets it, and
removes only the config keys that still hold the devnet's values."""

from __future__ import annotations

import tomllib
from pathlib import Path

from neo_service_layer.chains.devnet import stack
from neo_service_layer.chains.devnet.config_file import set_keys
from neo_service_layer.chains.devnet.state import ChainRecord, DevnetState, save_state, state_path
from neo_service_layer.config import Settings

NO_SUCH_PID = 2**22 + 4321


def record(tmp_path: Path, name: str, gateway: str) -> ChainRecord:
    return ChainRecord(
        pid=NO_SUCH_PID,
        rpc_url="http://127.0.0.1:9",  # nothing listens on the discard port
        workdir=str(tmp_path / "devnet" / name),
        log=str(tmp_path / "devnet" / name / "x.log"),
        network=1,
        contracts={"gateway": gateway},
    )


def test_down_keeps_the_operators_own_values(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    state = DevnetState(evm=record(tmp_path, "evm", "0xevm"), n3=record(tmp_path, "neo-n3", "0xn3"))
    save_state(tmp_path, state)
    config = tmp_path / "nsl.toml"
    set_keys(config, stack.config_values(state), comment=stack.CONFIG_COMMENT)
    set_keys(config, {"n3_rpc_url": "http://my-own-node:10332", "port": 9999})  # edited by the operator

    shown = stack.status(settings)
    assert shown.recorded
    assert not shown.healthy
    assert [(c.name, c.running, c.height) for c in shown.chains] == [
        ("evm", False, None),
        ("neo-n3", False, None),
    ]

    result = stack.down(settings)
    assert result == stack.DownResult(recorded=True, stopped=(), config_keys_removed=True)
    assert not state_path(tmp_path).exists()
    assert tomllib.loads(config.read_text()) == {"n3_rpc_url": "http://my-own-node:10332", "port": 9999}
    assert stack.down(settings) == stack.DownResult(recorded=False)

"""nsl devnet's edits of the NSL TOML file: other keys, comments and tables survive; bad TOML is refused."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from neo_service_layer.chains.devnet.config_file import (
    config_path,
    current_values,
    remove_keys,
    set_keys,
)
from neo_service_layer.chains.devnet.errors import ConfigFileInvalid
from neo_service_layer.config import Settings

COMMENT = "# devnet"
VALUES: dict[str, str | int] = {"evm_rpc_url": "http://127.0.0.1:1", "n3_gateway_hash": "0x" + "ab" * 20}


@pytest.mark.parametrize(
    ("before", "kept"),
    [
        pytest.param("", {}, id="no-file"),
        pytest.param('# mine\nlog_level = "debug"\nport = 9\n', {"log_level": "debug", "port": 9}, id="keys"),
        pytest.param('evm_rpc_url = "http://old"\nport = 1\n', {"port": 1}, id="replaces-old-value"),
        pytest.param('port = 1\n\n[tool]\nx = "y"\n', {"port": 1, "tool": {"x": "y"}}, id="table-kept-last"),
    ],
)
def test_set_then_remove_keeps_everything_else(tmp_path: Path, before: str, kept: dict[str, object]) -> None:
    path = tmp_path / "nsl.toml"
    if before:
        path.write_text(before)
    set_keys(path, VALUES, comment=COMMENT)
    assert current_values(path) == {**kept, **VALUES}
    assert path.read_text().count("evm_rpc_url") == 1
    set_keys(path, VALUES, comment=COMMENT)  # twice: still one line per key, one comment
    assert path.read_text().count(COMMENT) == 1
    assert remove_keys(path, VALUES, comment=COMMENT)
    assert tomllib.loads(path.read_text()) == kept
    assert COMMENT not in path.read_text()
    if "# mine" in before:
        assert "# mine" in path.read_text()
    assert not remove_keys(path, VALUES, comment=COMMENT)  # idempotent


def test_strings_are_escaped(tmp_path: Path) -> None:
    path = tmp_path / "nsl.toml"
    set_keys(path, {"evm_rpc_url": 'http://x/"quoted"\\path'})
    assert current_values(path)["evm_rpc_url"] == 'http://x/"quoted"\\path'


def test_booleans_are_toml_booleans(tmp_path: Path) -> None:
    path = tmp_path / "nsl.toml"
    set_keys(path, {"n3_native_oracle": True, "other": False, "port": 1})
    assert current_values(path) == {"n3_native_oracle": True, "other": False, "port": 1}


def test_invalid_toml_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "nsl.toml"
    path.write_text("port = = 1\n")
    with pytest.raises(ConfigFileInvalid) as caught:
        set_keys(path, VALUES)
    assert caught.value.code == "config_file_invalid"
    assert path.read_text() == "port = = 1\n"


def test_config_path_follows_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(data_dir=tmp_path)
    assert config_path(settings) == tmp_path / "nsl.toml"
    monkeypatch.setenv("NSL_CONFIG_FILE", str(tmp_path / "elsewhere.toml"))
    assert config_path(settings) == tmp_path / "elsewhere.toml"

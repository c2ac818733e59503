"""Grouped settings keep their flat names outside Python: ``NSL_EVM_RPC_URL`` → ``settings.evm.rpc_url``.

Every source (environment, systemd credentials, TOML file at the top level or in a group's table) reaches
the nested attribute; precedence is per setting; errors name the ``NSL_`` variable; unknown keys and a
setting given twice are refused.
"""

from __future__ import annotations

import json
import re
from functools import reduce
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field, SecretStr, ValidationError

from neo_service_layer.config import EvmSettings, Settings
from neo_service_layer.config.flat import flat_settings, nest
from neo_service_layer.errors import ConfigurationError

SOURCES = ["environment", "credentials", "toml-flat", "toml-table"]


class Layers:
    """Writes one setting into each kind of source of ``Settings`` for a test (all undone after it)."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self._dir = tmp_path
        self._monkeypatch = monkeypatch
        self._toml: list[str] = []
        self._tables: dict[str, list[str]] = {}

    def set(self, source: str, flat: str, value: Any) -> None:
        """``flat`` = ``value`` in ``source`` (one of :data:`SOURCES`), written the way an operator would."""
        if source == "environment":
            self._monkeypatch.setenv(f"NSL_{flat.upper()}", _text(value))
        elif source == "credentials":
            credentials = self._dir / "credentials"
            credentials.mkdir(exist_ok=True)
            (credentials / f"nsl_{flat}").write_text(_text(value) + "\n")
            self._monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
        elif source == "toml-flat":
            self._toml.append(f"{flat} = {_toml(value)}")
            self._write()
        else:
            path = flat_settings(Settings)[flat].path
            if len(path) == 1:
                self._toml.append(f"{flat} = {_toml(value)}")
            else:
                self._tables.setdefault(path[0], []).append(f"{path[1]} = {_toml(value)}")
            self._write()

    def write(self, text: str) -> None:
        """The TOML file is ``text``."""
        config = self._dir / "nsl.toml"
        config.write_text(text)
        self._monkeypatch.setenv("NSL_CONFIG_FILE", str(config))

    def _write(self) -> None:
        tables = [f"[{name}]\n" + "\n".join(lines) for name, lines in self._tables.items()]
        self.write("\n".join(self._toml) + "\n\n" + "\n\n".join(tables) + "\n")


def _text(value: Any) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def _toml(value: Any) -> str:
    return str(value) if isinstance(value, int | float) else json.dumps(_text(value))


def _get(settings: Settings, flat: str) -> Any:
    value = reduce(getattr, flat_settings(Settings)[flat].path, settings)
    return value.get_secret_value() if isinstance(value, SecretStr) else value


@pytest.fixture
def layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Layers:
    monkeypatch.setenv("NSL_DATA_DIR", str(tmp_path / "data"))
    return Layers(tmp_path, monkeypatch)


#: (flat name, value, the nested attribute): one or more settings of each group, and a top-level one.
CASES = [
    pytest.param("port", 9000, ("port",), id="top-level"),
    pytest.param("evm_rpc_url", "http://evm.internal:8545", ("evm", "rpc_url"), id="evm"),
    pytest.param("evm_fulfil_max_replacements", 2, ("evm", "fulfil_max_replacements"), id="evm-fulfil"),
    pytest.param("n3_gateway_hash", "0x" + "ab" * 20, ("n3", "gateway_hash"), id="n3"),
    pytest.param("n3_fulfil_valid_blocks", 40, ("n3", "fulfil_valid_blocks"), id="n3-fulfil"),
    pytest.param("job_max_attempts", 3, ("jobs", "max_attempts"), id="jobs"),
    pytest.param("worker_concurrency", 9, ("jobs", "worker_concurrency"), id="jobs-worker"),
    pytest.param("scheduler_lock_seconds", 12.5, ("jobs", "scheduler_lock_seconds"), id="jobs-scheduler"),
    pytest.param("rate_limit_key_burst", 7, ("rate_limits", "key_burst"), id="rate-limits"),
    pytest.param(
        "rate_limit_account_per_second", 0.5, ("rate_limits", "account_per_second"), id="rate-limits-2"
    ),
    pytest.param("enclave_timeout_seconds", 3.5, ("enclave", "timeout_seconds"), id="enclave"),
    pytest.param(
        "enclave_passphrase", SecretStr("pass phrase"), ("enclave", "passphrase"), id="enclave-secret"
    ),
    pytest.param("enclave_socket", Path("/run/nsl/enclave.sock"), ("enclave", "socket"), id="enclave-path"),
    pytest.param("audit_checkpoint_every_entries", 10, ("audit", "checkpoint_every_entries"), id="audit"),
    pytest.param("oracle_max_response_bytes", 1024, ("oracle", "max_response_bytes"), id="oracle"),
    pytest.param("oracle_timeout_seconds", 2.5, ("oracle", "timeout_seconds"), id="oracle-timeout"),
    pytest.param("pricefeed_tick_seconds", 2.5, ("pricefeed", "tick_seconds"), id="pricefeed"),
    pytest.param(
        "pricefeed_default_deviation_bps", 25, ("pricefeed", "default_deviation_bps"), id="pricefeed-default"
    ),
]


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(("flat", "value", "path"), CASES)
def test_each_source_reaches_the_nested_attribute(
    layers: Layers, source: str, flat: str, value: Any, path: tuple[str, ...]
) -> None:
    assert flat_settings(Settings)[flat].path == path
    layers.set(source, flat, value)
    expected = value.get_secret_value() if isinstance(value, SecretStr) else value
    assert _get(Settings(), flat) == expected


@pytest.mark.parametrize(
    ("given", "winner"),
    [
        pytest.param([], None, id="default"),
        pytest.param(["toml-table"], "toml-table", id="toml"),
        pytest.param(["toml-table", "credentials"], "credentials", id="credentials-over-toml"),
        pytest.param(["toml-table", "credentials", "environment"], "environment", id="env-over-both"),
        pytest.param(["toml-table", "credentials", "environment", "init"], "init", id="arguments-first"),
    ],
)
def test_precedence_is_unchanged_for_a_nested_secret(
    layers: Layers, given: list[str], winner: str | None
) -> None:
    for source in given:
        if source != "init":
            layers.set(source, "enclave_passphrase", f"from-{source}")
    settings = Settings(enclave={"passphrase": "from-init"}) if "init" in given else Settings()
    assert _get(settings, "enclave_passphrase") == (f"from-{winner}" if winner else None)


def test_precedence_is_per_setting_not_per_group(layers: Layers, monkeypatch: pytest.MonkeyPatch) -> None:
    layers.write('[evm]\nrpc_url = "http://from-the-file"\nconfirmations = 4\n')
    monkeypatch.setenv("NSL_EVM_RPC_URL", "http://from-the-environment")
    monkeypatch.setenv("NSL_EVM_POLL_SECONDS", "7")
    settings = Settings(evm={"poll_seconds": 2.5})
    assert (settings.evm.rpc_url, settings.evm.confirmations, settings.evm.poll_seconds) == (
        "http://from-the-environment",
        4,
        2.5,
    )
    # A whole group as an argument is taken as it is: no other source sets any of its fields.
    assert Settings(evm=EvmSettings(confirmations=2)).evm == EvmSettings(confirmations=2)


def test_environment_names_are_case_insensitive_as_before(
    layers: Layers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("nsl_rate_limit_key_burst", "11")
    assert Settings().rate_limits.key_burst == 11


@pytest.mark.parametrize(
    ("variable", "value", "shown"),
    [
        pytest.param(
            "NSL_PORT", "not-a-port", "port (NSL_PORT): Input should be a valid integer", id="top-level"
        ),
        pytest.param(
            "NSL_EVM_CONFIRMATIONS",
            "-1",
            "evm.confirmations (NSL_EVM_CONFIRMATIONS): Input should be greater than or equal to 0 "
            "(got '-1')",
            id="evm",
        ),
        pytest.param(
            "NSL_WORKER_CONCURRENCY",
            "many",
            "jobs.worker_concurrency (NSL_WORKER_CONCURRENCY): Input should be a valid integer",
            id="jobs-worker",
        ),
        pytest.param(
            "NSL_RATE_LIMIT_KEY_BURST",
            "0",
            "rate_limits.key_burst (NSL_RATE_LIMIT_KEY_BURST)",
            id="rate-limits",
        ),
        pytest.param(
            "NSL_ENCLAVE_BACKEND",
            "quantum",
            "enclave.backend (NSL_ENCLAVE_BACKEND): Input should be",
            id="enclave",
        ),
        pytest.param(
            "NSL_ENCLAVE_MAX_CONNECTION_BYTES",
            str(256 << 20),
            "enclave.max_connection_bytes (NSL_ENCLAVE_MAX_CONNECTION_BYTES) must not exceed "
            "enclave.max_in_flight_bytes (NSL_ENCLAVE_MAX_IN_FLIGHT_BYTES)",
            id="enclave-budgets",
        ),
    ],
)
def test_an_invalid_value_names_its_variable(
    layers: Layers, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, shown: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        Settings.load()
    assert caught.value.code == "configuration_error"
    assert shown in caught.value.detail


def test_an_invalid_secret_is_named_but_not_shown(layers: Layers) -> None:
    layers.write("[enclave]\npassphrase = 31415926\n\n")
    with pytest.raises(ConfigurationError) as caught:
        Settings.load()
    assert (
        "enclave.passphrase (NSL_ENCLAVE_PASSPHRASE): Input should be a valid string" in caught.value.detail
    )
    assert "31415926" not in caught.value.detail


@pytest.mark.parametrize(
    ("toml", "refused"),
    [
        pytest.param(
            "no_such_setting = 1\n", "no_such_setting: Extra inputs are not permitted", id="top-level"
        ),
        pytest.param("[evm]\nno_such = 1\n", "evm.no_such: Extra inputs are not permitted", id="in-a-group"),
        pytest.param(
            "[evm]\nevm_rpc_url = 'x'\n", "evm.evm_rpc_url: Extra inputs", id="flat-name-in-a-table"
        ),
        pytest.param("[oracles]\nurl = 'x'\n", "oracles: Extra inputs are not permitted", id="no-such-group"),
    ],
)
def test_an_unknown_key_of_the_file_is_refused(layers: Layers, toml: str, refused: str) -> None:
    layers.write(toml)
    with pytest.raises(ConfigurationError, match=re.escape(refused)):
        Settings.load()


@pytest.mark.parametrize(
    ("toml", "refused"),
    [
        pytest.param(
            "evm_rpc_url = 'a'\n[evm]\nrpc_url = 'b'\n",
            "sets a setting twice: evm_rpc_url and [evm] rpc_url",
            id="twice",
        ),
        pytest.param(
            "evm = 'a'\nevm_rpc_url = 'b'\n", "evm is not a table, yet evm_rpc_url set", id="not-a-table"
        ),
    ],
)
def test_a_setting_given_both_ways_in_the_file_is_refused(layers: Layers, toml: str, refused: str) -> None:
    layers.write(toml)
    with pytest.raises(ConfigurationError, match=re.escape(refused)):
        Settings.load()


def test_arguments_are_nested_only() -> None:
    with pytest.raises(ValidationError, match=r"evm_rpc_url\n  Extra inputs are not permitted"):
        Settings(evm_rpc_url="http://x")  # type: ignore[call-arg]  # mypy refuses it as well


def test_unknown_variables_are_ignored_as_before(layers: Layers, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NSL_NO_SUCH_SETTING", "1")
    monkeypatch.setenv("NSL_EVM", "not json")  # a group's own name is no variable
    assert Settings().evm == EvmSettings()


@pytest.mark.parametrize(
    ("flat", "nested"),
    [
        pytest.param({"port": 1, "other": 2}, {"port": 1, "other": 2}, id="top-level-and-unknown-kept"),
        pytest.param({"evm_rpc_url": "u"}, {"evm": {"rpc_url": "u"}}, id="flat"),
        pytest.param(
            {"evm": {"confirmations": 3}, "evm_rpc_url": "u"},
            {"evm": {"confirmations": 3, "rpc_url": "u"}},
            id="joins-the-table",
        ),
        pytest.param(
            {"worker_concurrency": 2, "job_max_attempts": 1},
            {"jobs": {"worker_concurrency": 2, "max_attempts": 1}},
            id="unprefixed-and-prefixed",
        ),
    ],
)
def test_nest(flat: dict[str, Any], nested: dict[str, Any]) -> None:
    assert nest(flat, flat_settings(Settings), "test") == nested


def test_two_settings_cannot_share_a_flat_name() -> None:
    class Clashing(Settings):
        evm_rpc_url: str | None = Field(default=None)

    with pytest.raises(TypeError, match=r"evm_rpc_url and evm\.rpc_url are both evm_rpc_url"):
        flat_settings(Clashing)

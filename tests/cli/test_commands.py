"""The ``nsl`` commands that work on the database, run in-process with typer's runner."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from neo_service_layer.cli.main import app
from neo_service_layer.enclave.canonical import canonical_json

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "data"
    monkeypatch.setenv("NSL_DATA_DIR", str(directory))
    return directory


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_config_show_masks_secrets(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NSL_REDIS_URL", "redis://:hunter2-redis@127.0.0.1:6379/0")
    monkeypatch.setenv("NSL_DATABASE_URL", "postgresql+asyncpg://nsl:hunter2-db@db.internal/nsl")
    monkeypatch.setenv("NSL_ENCLAVE_PASSPHRASE", "hunter2-passphrase")
    monkeypatch.setenv("NSL_EVM_RPC_URL", "http://evm.internal:8545")
    code, output = invoke("config", "show")
    assert code == 0
    shown = json.loads(output)
    assert "hunter2" not in output
    assert shown["redis_url"] == "**********"
    assert shown["database_url"] == "postgresql+asyncpg://nsl:**********@db.internal/nsl"
    assert shown["enclave"]["passphrase"] == "**********"
    assert shown["evm"]["rpc_url"] == "http://evm.internal:8545"
    assert shown["data_dir"] == str(data_dir)


def test_config_reads_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file = tmp_path / "nsl.toml"
    config_file.write_text(
        'port = 9999\nlog_level = "debug"\n\n[jobs]\nmax_attempts = 3\nworker_concurrency = 2\n'
    )
    monkeypatch.setenv("NSL_CONFIG_FILE", str(config_file))
    monkeypatch.setenv("NSL_LOG_LEVEL", "warning")  # env wins over the file
    monkeypatch.setenv("NSL_WORKER_CONCURRENCY", "6")  # ... in a group too, setting by setting
    code, output = invoke("config", "show")
    assert code == 0
    shown = json.loads(output)
    assert shown["port"] == 9999
    assert shown["log_level"] == "warning"
    assert (shown["jobs"]["max_attempts"], shown["jobs"]["worker_concurrency"]) == (3, 6)


def test_invalid_configuration_is_a_clear_error(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NSL_PORT", "not-a-port")
    monkeypatch.setenv("NSL_RATE_LIMIT_KEY_BURST", "0")
    code, output = invoke("config", "show")
    assert code != 0
    assert "port" in output
    assert "NSL_PORT" in output
    assert "NSL_RATE_LIMIT_KEY_BURST" in output


def test_db_upgrade_and_current(data_dir: Path) -> None:
    code, output = invoke("db", "upgrade")
    assert code == 0, output
    assert "revision" in output
    code, output = invoke("db", "current")
    assert code == 0
    revisions = json.loads(output)
    assert revisions["current"] == revisions["head"]


def test_create_account_and_key_then_key_hash_only(data_dir: Path) -> None:
    code, output = invoke("admin", "create-account", "acme")
    assert code == 0, output
    account = json.loads(output)
    code, output = invoke(
        "admin",
        "create-key",
        "--account",
        account["id"],
        "--role",
        "developer",
        "--scope",
        "audit:read",
        "--expires-in-days",
        "30",
    )
    assert code == 0, output
    key = json.loads(output)
    assert key["secret"].startswith(key["prefix"] + "_")
    assert key["scopes"] == ["audit:read"]
    assert key["expires_at"] is not None
    raw = (data_dir / "nsl.db").read_bytes()
    assert key["secret"].encode() not in raw
    assert key["prefix"].encode() in raw


def test_bootstrap_prints_the_first_admin_key_once(data_dir: Path) -> None:
    code, output = invoke("admin", "bootstrap")
    assert code == 0, output
    first = json.loads(output)
    assert first["created"] is True
    assert first["secret"].startswith("nsl_")
    assert json.loads(invoke("admin", "bootstrap")[1]) == {"created": False, "secret": None}
    with closing(sqlite3.connect(data_dir / "nsl.db")) as conn, conn:
        assert conn.execute("SELECT count(*) FROM accounts WHERE is_system").fetchone() == (1,)
        assert conn.execute("SELECT role FROM api_keys").fetchall() == [("admin",)]
    assert first["secret"].encode() not in (data_dir / "nsl.db").read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--account", "acc_missing"], "not_found"),
        (["--account", "ACCOUNT", "--role", "admin"], "admin keys exist only in the system account"),
        (["--account", "ACCOUNT", "--scope", "bogus:read"], "validation_failed"),
    ],
    ids=["unknown-account", "admin-outside-system", "unknown-scope"],
)
def test_create_key_rejects_bad_input(data_dir: Path, args: list[str], message: str) -> None:
    _, output = invoke("admin", "create-account", "acme")
    account_id = json.loads(output)["id"]
    code, output = invoke("admin", "create-key", *[account_id if a == "ACCOUNT" else a for a in args])
    assert code != 0
    assert message in output
    with closing(sqlite3.connect(data_dir / "nsl.db")) as conn, conn:
        assert conn.execute("SELECT count(*) FROM api_keys").fetchone() == (0,)


def test_audit_verify_detects_an_edited_entry(data_dir: Path) -> None:
    for name in ("a", "b", "c"):
        assert invoke("admin", "create-account", name)[0] == 0
    code, output = invoke("audit", "verify")
    assert code == 0
    assert "3 entries" in output
    with closing(sqlite3.connect(data_dir / "nsl.db")) as conn, conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2")
    code, output = invoke("audit", "verify")
    assert code == 1
    assert "BROKEN at entry 2" in output


@pytest.mark.parametrize(
    "enabled", [pytest.param("false", id="disabled"), pytest.param("true", id="enabled")]
)
def test_feeds_load_defaults_creates_the_shipped_feeds_once(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, enabled: str
) -> None:
    monkeypatch.setenv("NSL_PRICEFEED_DEFAULT_FEEDS_ENABLED", enabled)
    code, output = invoke("feeds", "load-defaults")
    assert code == 0, output
    assert json.loads(output) == {"created": ["NEO/USD", "GAS/USD", "BTC/USD", "ETH/USD"]}
    assert json.loads(invoke("feeds", "load-defaults")[1]) == {"created": []}
    with closing(sqlite3.connect(data_dir / "nsl.db")) as connection:
        rows = connection.execute("SELECT pair, enabled, targets FROM price_feeds ORDER BY pair").fetchall()
        actions = connection.execute(
            "SELECT actor, action FROM audit_log WHERE action LIKE 'feeds.%'"
        ).fetchall()
    assert rows == [(pair, enabled == "true", "[]") for pair in ("BTC/USD", "ETH/USD", "GAS/USD", "NEO/USD")]
    assert [action for _, action in actions] == ["feeds.load_defaults"]
    assert actions[0][0].startswith("cli:")


def test_feeds_config_hash_prints_the_hash_of_the_stored_rules(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NSL_PRICEFEED_DEFAULT_FEEDS_ENABLED", "false")
    assert invoke("feeds", "load-defaults")[0] == 0
    code, output = invoke("feeds", "config-hash", "NEO-USD")
    assert code == 0, output
    shown = json.loads(output)
    # The hash is SHA-256 of the canonical rules shown beside it (enclave.pricefeed.config_hash).
    assert shown["config_hash"] == "0x" + hashlib.sha256(canonical_json(shown["rules"])).hexdigest()
    assert (shown["pair"], shown["rules"]["pair"]) == ("NEO/USD", "NEO/USD")
    with closing(sqlite3.connect(data_dir / "nsl.db")) as connection:
        connection.execute("UPDATE price_feeds SET min_sources = 1 WHERE pair = 'NEO/USD'")
        connection.commit()
    changed = json.loads(invoke("feeds", "config-hash", "NEO/USD")[1])
    assert changed["config_hash"] != shown["config_hash"]
    code, output = invoke("feeds", "config-hash", "NOPE/USD")
    assert code == 2
    assert "feed_not_found" in output

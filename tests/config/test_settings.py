"""Settings never print their secrets: ``repr`` masks SecretStr fields (in groups too), ``masked()`` the
database password."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from neo_service_layer.config import Settings, mask_url_password

REDIS_PASSWORD = "redis-pass-123"
ADMIN_KEY = "nsl_boot_" + "b" * 40
DB_PASSWORD = "db-pass-456"
PASSPHRASE = "passphrase-of-the-sealing-key"


@pytest.fixture
def secret_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=f"postgresql+asyncpg://nsl:{DB_PASSWORD}@db.internal:5432/nsl",
        redis_url=SecretStr(f"redis://:{REDIS_PASSWORD}@cache.internal:6379/0"),
        bootstrap_admin_key=SecretStr(ADMIN_KEY),
        enclave={"passphrase": SecretStr(PASSPHRASE)},
    )


def test_repr_and_str_mask_secret_fields(secret_settings: Settings) -> None:
    for shown in (repr(secret_settings), str(secret_settings)):
        assert REDIS_PASSWORD not in shown
        assert ADMIN_KEY not in shown
        assert DB_PASSWORD not in shown  # the database URL carries a password: it is a secret too
        assert PASSPHRASE not in shown
        assert "redis_url=SecretStr('**********')" in shown
        assert "database_url=SecretStr('**********')" in shown
        assert "passphrase=SecretStr('**********')" in shown
    assert secret_settings.redis_url is not None
    assert REDIS_PASSWORD in secret_settings.redis_url.get_secret_value()
    assert DB_PASSWORD in secret_settings.effective_database_url
    assert secret_settings.enclave.passphrase is not None
    assert secret_settings.enclave.passphrase.get_secret_value() == PASSPHRASE


def test_masked_hides_secrets_and_the_database_password(secret_settings: Settings) -> None:
    shown = secret_settings.masked()
    assert shown["redis_url"] == "**********"
    assert shown["bootstrap_admin_key"] == "**********"
    assert shown["database_url"] == "postgresql+asyncpg://nsl:**********@db.internal:5432/nsl"
    assert shown["enclave"]["passphrase"] == "**********"
    assert DB_PASSWORD not in repr(shown)
    assert PASSPHRASE not in repr(shown)
    assert shown["data_dir"] == str(secret_settings.data_dir)


def test_masked_without_secrets(tmp_path: Path) -> None:
    shown = Settings(data_dir=tmp_path).masked()
    assert shown["redis_url"] is None
    assert shown["database_url"] == f"sqlite+aiosqlite:///{tmp_path / 'nsl.db'}"
    assert shown["enclave"]["passphrase"] is None
    assert shown["enclave"]["socket"] is None
    assert shown["jobs"]["max_attempts"] == 8


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@h/db", "postgresql://u:**********@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://u:p:q@h/db", "postgresql://u:**********@h/db"),
        ("postgresql://u:p@ss@h/db", "postgresql://u:**********@h/db"),
        ("sqlite+aiosqlite:////tmp/nsl.db", "sqlite+aiosqlite:////tmp/nsl.db"),
        ("not a url", "not a url"),
    ],
    ids=["password", "no-password", "colon-in-password", "at-in-password", "sqlite", "garbage"],
)
def test_mask_url_password(url: str, expected: str) -> None:
    assert mask_url_password(url) == expected


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NSL_REDIS_URL", f"redis://:{REDIS_PASSWORD}@cache:6379/0")
    monkeypatch.setenv("NSL_MAX_BODY_BYTES", "2048")
    settings = Settings(data_dir=tmp_path)
    assert settings.max_body_bytes == 2048
    assert REDIS_PASSWORD not in repr(settings)


CREDENTIAL = "passphrase-from-a-systemd-credential"


def test_settings_are_read_from_systemd_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "nsl_enclave_passphrase").write_text(CREDENTIAL + "\n")
    (credentials / "nsl_metrics_token").write_text("from-the-file")
    (credentials / "unrelated").write_text("ignored")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    monkeypatch.setenv("NSL_METRICS_TOKEN", "from-the-environment")  # the environment still wins
    settings = Settings(data_dir=tmp_path)
    assert settings.enclave.passphrase is not None
    assert settings.enclave.passphrase.get_secret_value() == CREDENTIAL
    assert settings.metrics_token is not None
    assert settings.metrics_token.get_secret_value() == "from-the-environment"
    assert CREDENTIAL not in repr(settings)
    assert CREDENTIAL not in str(settings.masked())


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"port": 9000, "metrics_port": 9000}, "metrics_port", id="metrics-on-the-api-port"),
        pytest.param(
            {"enclave": {"max_connection_bytes": 64 << 20, "max_in_flight_bytes": 32 << 20}},
            "enclave.max_connection_bytes",
            id="connection-budget-above-the-enclave's",
        ),
        pytest.param(
            {"enclave": {"max_in_flight_bytes": 1 << 20}}, "enclave.max_in_flight_bytes", id="below-a-frame"
        ),
        pytest.param({"api_workers": 2}, "NSL_REDIS_URL", id="api-workers-without-redis"),
    ],
)
def test_inconsistent_limits_are_refused(tmp_path: Path, overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=re.escape(field)):
        Settings(data_dir=tmp_path, **overrides)

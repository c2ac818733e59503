"""What ``nsl serve`` supervises, and its warning when the enclave shares the API's user."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import structlog

from neo_service_layer.cli.supervisor import (
    DEPLOYMENT_GUIDE,
    MAX_SERVE_API_WORKERS,
    serve_api_workers,
    serve_children,
    warn_if_enclave_shares_api_user,
)
from neo_service_layer.config import Settings

PASSPHRASE = "correct horse battery staple"
# Only parsed, never connected to.
POSTGRES_URL = "postgresql+asyncpg://nsl@db.internal/nsl"
REDIS_URL = "redis://cache.internal:6379"


@pytest.mark.parametrize(
    ("enclave", "names", "warned"),
    [
        pytest.param(True, ["enclave", "api", "worker"], True, id="enclave-started-by-serve"),
        pytest.param(False, ["api", "worker"], False, id="enclave-run-as-its-own-user"),
    ],
)
def test_serve_warns_once_when_it_starts_the_enclave_as_the_api_user(
    monkeypatch: pytest.MonkeyPatch, enclave: bool, names: list[str], warned: bool
) -> None:
    monkeypatch.setenv("NSL_ENCLAVE_PASSPHRASE", PASSPHRASE)
    children = serve_children(enclave=enclave, api_workers=1)
    assert [child.name for child in children] == names
    for child in children:  # only the enclave sees what unlocks its sealing key
        assert child.env is not None
        assert (child.env.get("NSL_ENCLAVE_PASSPHRASE") == PASSPHRASE) == (child.name == "enclave")
    with structlog.testing.capture_logs() as logs:
        assert warn_if_enclave_shares_api_user(children) is warned
    warnings = [entry for entry in logs if entry["event"] == "enclave_shares_api_user"]
    assert len(warnings) == int(warned)
    for entry in warnings:
        assert entry["log_level"] == "warning"
        assert entry["guide"] == DEPLOYMENT_GUIDE


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param({}, 1, id="sqlite-no-redis"),
        pytest.param({"redis_url": REDIS_URL}, 1, id="sqlite-with-redis"),
        pytest.param({"database_url": POSTGRES_URL}, 1, id="postgres-no-redis"),
        pytest.param(
            {"database_url": POSTGRES_URL, "redis_url": REDIS_URL},
            min(os.cpu_count() or 1, MAX_SERVE_API_WORKERS),
            id="postgres-and-redis",
        ),
        pytest.param({"api_workers": 3, "redis_url": REDIS_URL}, 3, id="set-explicitly"),
    ],
)
def test_serve_runs_several_api_processes_only_with_postgres_and_redis(
    tmp_path: Path, changes: dict[str, str | int], expected: int
) -> None:
    settings = Settings(data_dir=tmp_path, **changes)  # type: ignore[arg-type]
    workers = serve_api_workers(settings)
    assert workers == expected
    api = next(child for child in serve_children(enclave=False, api_workers=workers) if child.name == "api")
    assert api.argv[-3:] == ["api", "--workers", str(expected)]

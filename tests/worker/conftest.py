"""Fixtures of the worker tests: a second ``Database`` on the same database, a fake clock, fast settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from neo_service_layer.config import Settings
from neo_service_layer.db.session import Database
from tests.worker.helpers import FakeClock


@pytest.fixture
async def other_db(database_url: str) -> AsyncIterator[Database]:
    """A second engine on the same database: another worker process, as far as locking goes."""
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fast_settings(tmp_path: Path, database_url: str) -> Settings:
    """Short leases and backoff so that retries and takeovers happen within a test."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        log_format="console",
        jobs={
            "max_attempts": 3,
            "lease_seconds": 0.5,
            "backoff_base_seconds": 0.01,
            "backoff_max_seconds": 0.05,
            "worker_concurrency": 4,
            "worker_poll_seconds": 0.02,
            "scheduler_lock_seconds": 1.0,
        },
    )

"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from neo_service_layer.db.base import Base, UTCDateTime, utcnow
from neo_service_layer.db.migrate import alembic_config, current_revision, head_revision, upgrade
from neo_service_layer.db.registry import import_all_models
from neo_service_layer.db.session import Database
from neo_service_layer.services.accounts.service import create_account
from tests.conftest import BACKENDS, POSTGRES_URL


async def test_migrated_schema_matches_the_models(db: Database) -> None:
    import_all_models()

    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with db.engine.connect() as connection:
        differences = await connection.run_sync(diff)
    assert await current_revision(db) == head_revision()
    assert differences == []


async def test_queued_evm_request_jobs_keep_running_after_the_rename(tmp_path: Path) -> None:
    """0008 renames ``chains.request`` jobs to ``chains.evm.request`` (issue 12): a job queued by the
    previous version is served by this one, and finished ones read under the new name."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'nsl.db'}")
    try:
        await upgrade(db, "0007")
        now = "2026-12-06 00:00:00.000000"
        async with db.transaction() as session:
            for job_id, kind in (("job_1", "chains.request"), ("job_2", "chains.n3.request")):
                await session.execute(
                    text(
                        "INSERT INTO jobs (id, kind, payload, status, run_at, attempts, max_attempts, "
                        "created_at, updated_at) VALUES (:id, :kind, '{}', 'queued', :now, 0, 8, :now, :now)"
                    ),
                    {"id": job_id, "kind": kind, "now": now},
                )
        await upgrade(db)
        async with db.transaction() as session:
            rows = (
                await session.execute(text("SELECT id, kind, last_error_code FROM jobs ORDER BY id"))
            ).all()
    finally:
        await db.dispose()
    assert [tuple(row) for row in rows] == [
        ("job_1", "chains.evm.request", None),
        ("job_2", "chains.n3.request", None),
    ]


@pytest.fixture(params=BACKENDS)
async def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """An empty, unmigrated database of each backend: a SQLite file, or a PostgreSQL database of its own
    beside the test database (the shared one stays at the head for the other tests)."""
    if request.param == "sqlite":
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'nsl.db'}")
        yield db
        await db.dispose()
        return
    assert POSTGRES_URL
    url = make_url(POSTGRES_URL)
    name = f"{url.database}_migrations"
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        db = Database(url.set(database=name).render_as_string(hide_password=False))
        yield db
        await db.dispose()
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE "{name}"'))
    finally:
        await admin.dispose()


async def _downgrade(db: Database, revision: str) -> None:
    config = alembic_config(db.url)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with db.engine.begin() as connection:
        await connection.run_sync(run)


_RUN_CONFIG = ("limits", "allowed_domains", "secrets", "args_schema")


def _config_columns() -> list[sa.ColumnClause[Any]]:
    return [sa.column(name, sa.JSON) for name in _RUN_CONFIG]


_FUNCTIONS = sa.table(
    "functions",
    *map(sa.column, ["id", "version", "name", "live_name", "account_id"]),
    sa.column("created_at", UTCDateTime),
    sa.column("updated_at", UTCDateTime),
    *_config_columns(),
)
_VERSIONS = sa.table(
    "function_versions",
    *map(sa.column, ["function_id", "version", "account_id", "source", "source_sha256"]),
    sa.column("created_at", UTCDateTime),
    *_config_columns(),
)
_RUNS = sa.table(
    "function_runs",
    *map(sa.column, ["id", "function_id", "version", "status", "mode", "logs", "logs_truncated", "fetches"]),
    sa.column("account_id"),
    sa.column("created_at", UTCDateTime),
)
_V1 = {
    "limits": {"timeout_ms": 2000},
    "allowed_domains": ["a.example"],
    "secrets": ["s"],
    "args_schema": None,
}
_V3 = {
    "limits": {"timeout_ms": 3000},
    "allowed_domains": [],
    "secrets": [],
    "args_schema": {"type": "object"},
}


async def _columns(db: Database, table: str) -> dict[str, bool]:
    """``table``'s columns: whether each is nullable, by name."""

    def names(connection: Connection) -> dict[str, bool]:
        return {column["name"]: column["nullable"] for column in sa.inspect(connection).get_columns(table)}

    async with db.engine.connect() as connection:
        return await connection.run_sync(names)


async def _counts(db: Database) -> tuple[int, ...]:
    """How many functions, versions and runs there are."""
    async with db.session() as session:
        return tuple(
            [
                (await session.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
                for table in (_FUNCTIONS, _VERSIONS, _RUNS)
            ]
        )


async def _config(
    db: Database, table: sa.TableClause, *where: sa.ColumnElement[bool]
) -> list[dict[str, Any]]:
    async with db.session() as session:
        found = await session.execute(sa.select(*(table.c[name] for name in _RUN_CONFIG)).where(*where))
        return [dict(row._mapping) for row in found]


async def test_0014_moves_the_run_config_onto_each_version_and_back(empty_db: Database) -> None:
    """Up: each existing version gets its function's config (NOT NULL but the schema), the function
    row loses it; down: the function gets its current version's config back. SQLite and PostgreSQL."""
    db = empty_db
    await upgrade(db, "0013")
    now = utcnow()
    async with db.transaction() as session:
        account_id = (await create_account(session, "acme")).id
        owned = {"account_id": account_id, "created_at": now}
        await session.execute(
            _FUNCTIONS.insert().values(
                id="fn_1", version=2, name="f", live_name="f", updated_at=now, **owned, **_V1
            )
        )
        for version in (1, 2):
            await session.execute(
                _VERSIONS.insert().values(
                    function_id="fn_1",
                    version=version,
                    source=f"return {version};",
                    source_sha256="00" * 32,
                    **owned,
                )
            )
        run = {"status": "succeeded", "mode": "sync", "logs": "", "logs_truncated": False, "fetches": 0}
        await session.execute(
            _RUNS.insert().values(id="fnr_1", function_id="fn_1", version=1, **run, **owned)
        )
    await upgrade(db)
    assert await _counts(db) == (1, 2, 1)  # nothing lost (no recreate of functions: its FKs cascade)
    assert set(_RUN_CONFIG).isdisjoint(await _columns(db, "functions"))
    assert await _config(db, _VERSIONS) == [_V1, _V1]
    nullable = await _columns(db, "function_versions")
    assert {name: nullable[name] for name in _RUN_CONFIG} == {
        name: name == "args_schema" for name in _RUN_CONFIG
    }
    # A PATCH after the upgrade: version 3 with its own config, current.
    async with db.transaction() as session:
        await session.execute(
            _VERSIONS.insert().values(
                function_id="fn_1",
                version=3,
                source="return 3;",
                source_sha256="00" * 32,
                account_id=account_id,
                created_at=now,
                **_V3,
            )
        )
        await session.execute(sa.update(_FUNCTIONS).values(version=3))

    await _downgrade(db, "0013")
    assert set(_RUN_CONFIG).isdisjoint(await _columns(db, "function_versions"))
    assert set(_RUN_CONFIG) <= set(await _columns(db, "functions"))
    assert await _config(db, _FUNCTIONS) == [_V3]
    assert await _counts(db) == (1, 3, 1)

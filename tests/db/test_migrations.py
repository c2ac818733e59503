"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from neo_service_layer.db.base import Base
from neo_service_layer.db.migrate import current_revision, head_revision, upgrade
from neo_service_layer.db.registry import import_all_models
from neo_service_layer.db.session import Database


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

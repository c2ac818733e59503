"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from neo_service_layer.db.base import Base
from neo_service_layer.db.migrate import current_revision, head_revision
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

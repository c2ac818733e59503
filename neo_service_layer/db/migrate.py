"""Apply Alembic migrations: on start of every process and from ``nsl db upgrade``."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from neo_service_layer.db.session import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url)
    return config


# Cached: reading the script directory parses every migration file (~15 ms), and the files shipped with
# this code do not change while it runs.
@functools.cache
def head_revision() -> str:
    """The newest migration shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None
    return head


async def upgrade(db: Database, revision: str = "head") -> None:
    """Upgrade the database schema to ``revision`` (idempotent). Every process calls it on start: a
    database already at the head costs one query instead of a run of Alembic (~30 ms)."""
    config = alembic_config(db.url)

    def _upgrade(connection: Connection) -> None:
        if revision == "head" and _revision_of(connection) == head_revision():
            return
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with db.engine.begin() as connection:
        await connection.run_sync(_upgrade)


def _revision_of(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(db: Database) -> str | None:
    """The revision the database is at, or None before the first migration."""
    async with db.engine.connect() as connection:
        return await connection.run_sync(_revision_of)

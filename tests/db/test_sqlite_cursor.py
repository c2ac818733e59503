"""The one-trip SQLite cursor (``db.sqlite_cursor``): what SQLAlchemy reads from a cursor is all there."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import CursorResult, text
from sqlalchemy.exc import IntegrityError

from neo_service_layer.db.session import Database
from neo_service_layer.db.sqlite_cursor import OneTripConnection


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'one_trip.db'}")
    async with db.transaction() as session:
        await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    return db


async def test_pooled_connections_use_the_one_trip_cursor(sqlite_db: Database) -> None:
    async with sqlite_db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.dbapi_connection, OneTripConnection)
    await sqlite_db.dispose()


async def test_rows_rowcount_lastrowid_and_executemany(sqlite_db: Database) -> None:
    try:
        async with sqlite_db.transaction() as session:
            inserted = await session.execute(text("INSERT INTO t (name) VALUES ('a')"))
            assert isinstance(inserted, CursorResult)
            assert inserted.lastrowid == 1
            await session.execute(text("INSERT INTO t (name) VALUES (:name)"), [{"name": "b"}, {"name": "c"}])
            updated = await session.execute(text("UPDATE t SET name = name || '!' WHERE id > 1"))
            assert isinstance(updated, CursorResult)
            assert updated.rowcount == 2
            result = await session.execute(text("SELECT id, name FROM t ORDER BY id"))
            assert list(result.keys()) == ["id", "name"]
            assert result.fetchmany() == [(1, "a")]  # arraysize 1, as sqlite3's
            assert result.fetchall() == [(2, "b!"), (3, "c!")]
            assert (await session.execute(text("SELECT name FROM t WHERE id = 9"))).first() is None
    finally:
        await sqlite_db.dispose()


async def test_driver_errors_become_sqlalchemy_errors(sqlite_db: Database) -> None:
    try:
        with pytest.raises(IntegrityError):
            async with sqlite_db.transaction() as session:
                await session.execute(text("INSERT INTO t (name) VALUES ('same'), ('same')"))
        async with sqlite_db.session() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
    finally:
        await sqlite_db.dispose()

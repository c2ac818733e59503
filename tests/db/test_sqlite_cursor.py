"""The inline SQLite cursor (``db.sqlite_cursor``): what SQLAlchemy reads, and where statements run."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import CursorResult, text
from sqlalchemy.exc import IntegrityError

from neo_service_layer.db import sqlite_cursor
from neo_service_layer.db.session import Database
from neo_service_layer.db.sqlite_cursor import InlineConnection


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'one_trip.db'}")
    async with db.transaction() as session:
        await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    return db


async def test_pooled_connections_use_the_inline_cursor(sqlite_db: Database) -> None:
    async with sqlite_db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.dbapi_connection, InlineConnection)
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


async def _trace_threads(db: Database) -> list[tuple[str, bool]]:
    """Record, for each statement sqlite3 runs on the pooled connection, whether it ran on this thread."""
    seen: list[tuple[str, bool]] = []
    loop_thread = threading.get_ident()
    async with db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        driver._conn.set_trace_callback(lambda sql: seen.append((sql, threading.get_ident() == loop_thread)))
    return seen


async def test_statements_and_commits_run_on_the_loop(sqlite_db: Database) -> None:
    try:
        seen = await _trace_threads(sqlite_db)
        async with sqlite_db.transaction() as session:
            await session.execute(text("INSERT INTO t (name) VALUES ('a')"))
            await session.execute(text("SELECT name FROM t"))
        assert seen == [
            ("BEGIN IMMEDIATE", True),
            ("INSERT INTO t (name) VALUES ('a')", True),
            ("SELECT name FROM t", True),
            ("COMMIT", True),  # appends to the WAL, no fsync, and no checkpoint inside it:
        ]
        async with sqlite_db.session() as session:
            assert (await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one() == 0
    finally:
        await sqlite_db.dispose()


async def test_every_nth_commit_checkpoints_on_the_thread(sqlite_db: Database, tmp_path: Path) -> None:
    # The checkpoint fsyncs: never on the loop, and often enough that the WAL does not grow without end.
    try:
        seen = await _trace_threads(sqlite_db)
        for n in range(sqlite_cursor.CHECKPOINT_EVERY_COMMITS + 1):
            async with sqlite_db.transaction() as session:
                await session.execute(text("INSERT INTO t (name) VALUES (:n)"), {"n": str(n)})
        off_loop = [sql for sql, on_loop in seen if not on_loop]
        assert off_loop == [
            f"PRAGMA busy_timeout={sqlite_cursor.BUSY_TIMEOUT_MS}",
            "COMMIT",
            f"PRAGMA busy_timeout={sqlite_cursor.INLINE_BUSY_TIMEOUT_MS}",
            "PRAGMA wal_checkpoint(PASSIVE)",
        ]
        # Everything committed so far is in the database file itself, not only in the WAL.
        with closing(sqlite3.connect(tmp_path / "one_trip.db")) as reader:
            busy, wal_pages, copied = reader.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0
        assert wal_pages > 0
        assert copied == wal_pages
    finally:
        await sqlite_db.dispose()


async def test_executemany_outside_a_transaction_goes_to_the_thread(sqlite_db: Database) -> None:
    # Each row is its own transaction there: a BUSY at row k must not repeat the rows before it.
    try:
        seen = await _trace_threads(sqlite_db)
        async with sqlite_db.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            assert raw.dbapi_connection is not None
            cursor = raw.dbapi_connection.cursor()
            await connection.run_sync(
                lambda _: cursor.executemany("INSERT INTO t (name) VALUES (?)", [("x",), ("y",)])
            )
        inserts = [(sql, on_loop) for sql, on_loop in seen if sql.startswith("INSERT")]
        assert inserts == [
            ("INSERT INTO t (name) VALUES ('x')", False),
            ("INSERT INTO t (name) VALUES ('y')", False),
        ]
    finally:
        await sqlite_db.dispose()


async def test_a_locked_database_is_waited_for_on_the_thread_while_the_loop_runs(
    sqlite_db: Database, tmp_path: Path
) -> None:
    # Another process's writer (here another connection) holds the write lock for 0.3 s.
    other = sqlite3.connect(tmp_path / "one_trip.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t (name) VALUES ('other')")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def release_later() -> None:
        await asyncio.sleep(0.3)
        other.execute("COMMIT")

    ticking = asyncio.create_task(ticker())
    releasing = asyncio.create_task(release_later())
    try:
        async with sqlite_db.transaction() as session:  # BEGIN IMMEDIATE meets SQLITE_BUSY at once
            await session.execute(text("INSERT INTO t (name) VALUES ('ours')"))
        assert releasing.done()  # it waited for the other writer ...
        assert ticks >= 10  # ... without stopping the loop (0.3 s at 10 ms a tick, minus scheduling)
        async with sqlite_db.session() as session:
            names = (await session.execute(text("SELECT name FROM t ORDER BY id"))).scalars().all()
            assert names == ["other", "ours"]
            # The wait's busy timeout was for that trip only: the loop's statements still never sleep.
            assert (await session.execute(text("PRAGMA busy_timeout"))).scalar_one() == 0
    finally:
        ticking.cancel()
        other.close()
        await sqlite_db.dispose()


async def test_a_connection_with_a_trip_still_running_is_not_used_from_the_loop(sqlite_db: Database) -> None:
    # A task cancelled while its trip runs stops waiting; the trip does not stop. Until it ends the
    # connection belongs to the thread.
    try:
        async with sqlite_db.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            assert sqlite_cursor.thread_idle(driver)
            release = threading.Event()
            waiting = asyncio.create_task(sqlite_cursor.on_thread(driver, release.wait, 5))
            await asyncio.sleep(0.05)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            assert not sqlite_cursor.thread_idle(driver)
            release.set()
            await sqlite_cursor.on_thread(driver, lambda: None)  # queued behind it: both are done
            assert sqlite_cursor.thread_idle(driver)
    finally:
        await sqlite_db.dispose()


@pytest.mark.parametrize(
    ("code", "busy"),
    [
        (sqlite3.SQLITE_BUSY, True),
        (sqlite3.SQLITE_BUSY | 2 << 8, True),  # SQLITE_BUSY_SNAPSHOT
        (sqlite3.SQLITE_LOCKED, False),
        (sqlite3.SQLITE_CONSTRAINT, False),
    ],
)
def test_is_busy(code: int, busy: bool) -> None:
    error = sqlite3.OperationalError("x")
    error.sqlite_errorcode = code
    assert sqlite_cursor.is_busy(error) is busy

"""SQLite statements on the event loop's thread; only what may wait goes to aiosqlite's thread.

aiosqlite runs every sqlite3 call on its own thread, and each call is a round trip: queue the call,
wake the thread, wait for the future, wake the loop. SQLAlchemy's aiosqlite adapter makes one per step
of a statement (open a cursor, execute, fetch, close). Each trip costs two context switches and tens of
microseconds of event-loop and thread work, where the platform's statements (primary-key reads, an
audit INSERT) cost sqlite3 a few microseconds: an authenticated GET made 13 context switches, nearly
all of them these trips (``bench/keys.py``, measured in docs/performance.md).

So a statement runs where it is issued, on the loop's thread (:class:`InlineCursor`), unless it would
wait:

- **for a lock** held by another connection (another process, or the CLI): the connection's busy
  timeout is 0, so SQLite answers ``SQLITE_BUSY`` at once instead of sleeping on the loop, and the
  statement is run again on aiosqlite's thread with the real busy timeout (:data:`BUSY_TIMEOUT_MS`),
  where waiting blocks nothing. A statement that met ``SQLITE_BUSY`` did nothing, so running it again
  is safe; an ``executemany`` outside a transaction (each row its own transaction, so a BUSY at row
  k would repeat rows before it) is sent to the thread straight away.
- **for the disk**: in WAL mode with ``synchronous=NORMAL`` a ``COMMIT`` appends to the WAL without
  fsync, and stays on the loop; what fsyncs is the checkpoint (copying the WAL into the database),
  which SQLite would run inside whichever commit crosses its size (``wal_autocheckpoint``). So the
  connection's auto-checkpoint is off (:data:`AUTOCHECKPOINT_OFF`) and every
  :data:`CHECKPOINT_EVERY_COMMITS`-th commit goes to the thread with a ``PASSIVE`` checkpoint after it
  (it never waits for readers; what it cannot copy yet, the next one does). Other connections to the
  file (other processes) keep SQLite's default and checkpoint too.

One statement at a time per connection, as before: the adapter's mutex for statements, and a
connection still busy with a trip on the thread (one whose awaiting task was cancelled) sends its next
statements to the thread too, behind it, so sqlite3 is never used from two threads at once.

It reaches into aiosqlite as SQLAlchemy's own adapter does (``Connection._execute``, the queue behind
every aiosqlite call; ``_conn``, the sqlite3 connection, opened with ``check_same_thread=False``) and
is installed per connection by ``db.session`` (:func:`install`). Server-side cursors
(``stream_results``) keep the adapter's own class.
"""

from __future__ import annotations

import collections
import sqlite3
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection, AsyncAdapt_aiosqlite_cursor
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

# How long a statement sent to aiosqlite's thread waits for another connection's lock.
BUSY_TIMEOUT_MS = 30_000
# The connection's own busy timeout: statements on the loop's thread never sleep on a lock.
INLINE_BUSY_TIMEOUT_MS = 0
# ``PRAGMA wal_autocheckpoint`` for these connections: no checkpoint inside a commit on the loop.
AUTOCHECKPOINT_OFF = 0
# SQLite's default auto-checkpoint is 1,000 WAL pages; a request's transaction writes a few pages.
CHECKPOINT_EVERY_COMMITS = 256
# sqlite3 error codes carry extended codes in their high bits (SQLITE_BUSY_SNAPSHOT is 5 | 2 << 8).
_PRIMARY_CODE_MASK = 0xFF

# What one statement leaves behind: description, rows, rowcount, lastrowid.
type _Outcome = tuple[Any, list[Any], int, int | None]


@dataclass(slots=True)
class _Usage:
    """Per connection: trips queued to its thread and trips it finished (equal when the thread is idle),
    and commits so far (for the checkpoint cadence).

    The trip counters have one writer each (the loop's thread queues, aiosqlite's thread finishes), so
    neither update can be lost between threads.
    """

    queued: int = 0
    finished: int = 0
    commits: int = 0


_USAGE: weakref.WeakKeyDictionary[aiosqlite.Connection, _Usage] = weakref.WeakKeyDictionary()


def _usage(driver: aiosqlite.Connection) -> _Usage:
    return _USAGE.setdefault(driver, _Usage())


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, *, many: bool) -> _Outcome:
    """The whole statement, its cursor closed before returning."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _run_waiting(connection: sqlite3.Connection, operation: str, parameters: Any, *, many: bool) -> _Outcome:
    """On aiosqlite's thread: :func:`_run` with the busy timeout that lets it wait for a lock."""
    connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        return _run(connection, operation, parameters, many=many)
    finally:
        connection.execute(f"PRAGMA busy_timeout={INLINE_BUSY_TIMEOUT_MS}")


def _commit_waiting(connection: sqlite3.Connection) -> None:
    """On aiosqlite's thread: COMMIT, waiting for a lock if it must."""
    _run_waiting(connection, "COMMIT", None, many=False)


def _commit_and_checkpoint(connection: sqlite3.Connection) -> None:
    """On aiosqlite's thread: COMMIT, then copy what the WAL holds into the database (fsyncs)."""
    _commit_waiting(connection)
    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").close()


def is_busy(error: sqlite3.Error) -> bool:
    """Whether ``error`` is SQLite's "another connection holds the lock" (any SQLITE_BUSY variant)."""
    return getattr(error, "sqlite_errorcode", 0) & _PRIMARY_CODE_MASK == sqlite3.SQLITE_BUSY


async def on_thread(
    driver: aiosqlite.Connection, function: Callable[..., Any], *args: Any, **kwargs: Any
) -> Any:
    """Run ``function(*args, **kwargs)`` on ``driver``'s thread, counted so :func:`thread_idle` knows."""
    usage = _usage(driver)

    def counted() -> Any:
        try:
            return function(*args, **kwargs)
        finally:
            usage.finished += 1

    usage.queued += 1
    return await driver._execute(counted)  # type: ignore[no-untyped-call]  # aiosqlite's, untyped


def thread_idle(driver: aiosqlite.Connection) -> bool:
    """Whether ``driver``'s thread has finished every trip queued to it."""
    usage = _USAGE.get(driver)
    return usage is None or usage.queued == usage.finished


class InlineCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statements run on the loop's thread when they cannot wait (see the module)."""

    __slots__ = ("_description", "_driver", "_lastrowid", "_rowcount")
    # Nothing is left open on the driver's side to close.
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: Any) -> None:  # no cursor opened up front
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._driver: aiosqlite.Connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return 1  # sqlite3's default; fetchmany() without a size reads this

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        raise NotImplementedError("InlineCursor buffers every row; arraysize does not apply")

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            return await_(self._statement(operation, parameters, many=False))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        try:
            return await_(self._statement(operation, seq_of_parameters, many=True))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _statement(self, operation: Any, parameters: Any, *, many: bool) -> None:
        # The adapter's lock: one statement at a time on the connection, as its own cursor does.
        async with self._adapt_connection._execute_mutex:
            driver = self._driver
            outcome = _try_inline(driver, operation, parameters, many=many)
            if outcome is None:
                connection = driver._conn
                outcome = await on_thread(driver, _run_waiting, connection, operation, parameters, many=many)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)


def _try_inline(
    driver: aiosqlite.Connection, operation: str, parameters: Any, *, many: bool
) -> _Outcome | None:
    """The statement's outcome if it ran here; None if it must go to the thread (it would wait)."""
    connection = driver._conn
    if not thread_idle(driver) or (many and not connection.in_transaction):
        return None
    try:
        return _run(connection, operation, parameters, many=many)
    except sqlite3.OperationalError as error:
        if is_busy(error):
            return None
        raise


class InlineConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's aiosqlite connection adapter with :class:`InlineCursor`; COMMIT and ROLLBACK on the loop
    too (every :data:`CHECKPOINT_EVERY_COMMITS`-th commit, and what would wait, on the thread)."""

    __slots__ = ()
    _cursor_cls = InlineCursor

    @property
    def _driver(self) -> aiosqlite.Connection:
        return cast(aiosqlite.Connection, self._connection)

    def commit(self) -> None:
        driver = self._driver
        if driver._connection is None:  # closed: as the adapter, nothing to commit
            return
        connection = driver._conn
        if not connection.in_transaction:  # sqlite3's commit() is a no-op then; so is ours
            return
        usage = _usage(driver)
        usage.commits += 1
        try:
            if usage.commits % CHECKPOINT_EVERY_COMMITS == 0:
                await_(on_thread(driver, _commit_and_checkpoint, connection))
            elif _try_inline(driver, "COMMIT", None, many=False) is None:
                await_(on_thread(driver, _commit_waiting, connection))
        except Exception as error:
            self._handle_exception(error)

    def rollback(self) -> None:
        driver = self._driver
        if driver._connection is None:
            return
        try:
            if thread_idle(driver):
                driver._conn.rollback()
            else:
                await_(on_thread(driver, driver._conn.rollback))
        except Exception as error:
            self._handle_exception(error)


def install(dbapi_connection: Any) -> None:
    """Give a new pooled aiosqlite connection the inline cursor (its class only changes: the adapter's
    state, slots and all, is the same object)."""
    if type(dbapi_connection) is AsyncAdapt_aiosqlite_connection:
        dbapi_connection.__class__ = InlineConnection

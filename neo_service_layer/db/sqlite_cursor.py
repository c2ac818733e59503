"""One trip to aiosqlite's thread per SQLite statement, instead of SQLAlchemy's four.

aiosqlite runs every sqlite3 call on its own thread, and each call is a round trip: queue the call,
wake the thread, wait for the future. SQLAlchemy's aiosqlite adapter makes one per step of a statement:
open a cursor, execute, fetch the rows, close the cursor. Each trip costs tens of microseconds of
event-loop and thread switching (the profile of ``bench/api.py`` showed aiosqlite's worker among the
top entries), far more than sqlite3's own work (a few microseconds for a primary-key read).
:class:`OneTripCursor` does all four in one function on aiosqlite's thread and keeps the results
(rows, description, rowcount, lastrowid) for SQLAlchemy, which is what the adapter's buffered
cursor holds after its four trips anyway.

It reaches into aiosqlite as SQLAlchemy's own adapter does (``Connection._execute``, the queue behind
every aiosqlite call) and is installed per connection by ``db.session`` (:func:`install`). Server-side
cursors (``stream_results``) keep the adapter's own class.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection, AsyncAdapt_aiosqlite_cursor
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

# What one statement leaves behind: description, rows, rowcount, lastrowid.
type _Outcome = tuple[Any, list[Any], int, int | None]


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, *, many: bool) -> _Outcome:
    """On aiosqlite's thread: the whole statement, the cursor closed before the trip back."""
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


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement costs one trip to aiosqlite's thread (see the module)."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")
    # Nothing is left open on the driver's side to close.
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: Any) -> None:  # no cursor opened up front: no trip
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
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
        raise NotImplementedError("OneTripCursor buffers every row; arraysize does not apply")

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            return await_(self._trip(operation, parameters, many=False))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        try:
            return await_(self._trip(operation, seq_of_parameters, many=True))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _trip(self, operation: Any, parameters: Any, *, many: bool) -> None:
        # The adapter's lock: one statement at a time on the connection, as its own cursor does.
        async with self._adapt_connection._execute_mutex:
            driver = self._connection
            outcome: _Outcome = await driver._execute(_run, driver._conn, operation, parameters, many=many)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's aiosqlite connection adapter, with :class:`OneTripCursor` as its cursor."""

    __slots__ = ()
    _cursor_cls = OneTripCursor


def install(dbapi_connection: Any) -> None:
    """Give a new pooled aiosqlite connection the one-trip cursor (its class only changes: the
    adapter's state, slots and all, is the same object)."""
    if type(dbapi_connection) is AsyncAdapt_aiosqlite_connection:
        dbapi_connection.__class__ = OneTripConnection

"""The group-commit writer's batch on PostgreSQL in one statement: one round trip, commit included.

The locked append (``chain.append_rows``) takes six round trips through SQLAlchemy (pool pre-ping,
BEGIN, the head's ``SELECT … FOR UPDATE``, INSERT, head UPDATE, COMMIT) and ~700 µs of the API
process's CPU per batch, most of it the client's work per round trip (a loopback send that wakes the
server, an event-loop turn, SQLAlchemy's execution context). Here the writer remembers the head its
last batch left, chains the next batch after it in Python, and sends one statement on its own
connection, outside any explicit transaction (PostgreSQL commits it before it answers: the waiters
still wake only after the commit):

- ``cur`` locks the head row (``FOR UPDATE``: if another transaction moved it meanwhile, PostgreSQL
  waits for that one and reads the head it committed);
- ``moved`` moves the head to the batch's last entry only if ``cur`` is the head the batch was
  chained after (a compare-and-set under the row lock);
- the INSERT writes the rows only if ``moved`` did (a join with its one row or none);
- the statement returns ``cur``: on a miss (another process, or a request's own transaction,
  appended since) nothing was written, and the batch is chained again after the head it returned, in a
  transaction that keeps the head locked (``append``): no writer starves.

So the chain, the head and the lock are exactly those of the locked append; only who computes the
rows before the lock is taken differs. A process whose requests only read hits after its first batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from neo_service_layer.enclave.opdefs.audit import GENESIS_HASH
from neo_service_layer.services.audit.chain import HEAD_ID, AuditEvent, chain_rows


def _as_is(value: Any) -> Any:
    return value


# The log's columns, their PostgreSQL types (of the arrays unnest reads) and how a row's value is bound.
_COLUMNS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("seq", "int", _as_is),
    ("account_id", "varchar", _as_is),
    ("created_at", "timestamptz", _as_is),
    ("actor", "varchar", _as_is),
    ("action", "varchar", _as_is),
    ("resource", "varchar", _as_is),
    ("outcome", "varchar", str),
    ("status_code", "int", _as_is),
    ("request_id", "varchar", _as_is),
    ("details", "json", json.dumps),  # as SQLAlchemy's JSON type binds it
    ("prev_hash", "varchar", _as_is),
    ("hash", "varchar", _as_is),
)
_ARRAYS = ", ".join(f"${n}::{kind}[]" for n, (_, kind, _) in enumerate(_COLUMNS, 5))
# Made of this module's constants only (no input reaches the text: the values are bound).
_APPEND = f"""
WITH cur AS (SELECT seq, hash FROM audit_head WHERE id = {HEAD_ID} FOR UPDATE),
moved AS (
  UPDATE audit_head SET seq = $3, hash = $4
  WHERE id = {HEAD_ID} AND (SELECT cur.seq = $1 AND cur.hash = $2 FROM cur)
  RETURNING id
),
written AS (
  INSERT INTO audit_log ({", ".join(name for name, _, _ in _COLUMNS)})
  SELECT rows.* FROM moved, unnest({_ARRAYS}) AS rows
)
SELECT seq, hash FROM cur
"""  # noqa: S608


class HeadMissing(RuntimeError):
    """The chain's head row is gone: nothing can be appended (the database was tampered with)."""


class PostgresBatchAppender:
    """Appends the writer's batches on one connection of its own, one statement per batch.

    One batch at a time (the writer's one task): the connection runs one statement at a time."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._driver: Any = None
        self._statement: Any = None
        # Batches that found the head moved by another writer since this one's last batch (for tests).
        self.misses = 0
        # The head the last batch left (or the last miss reported); a wrong guess costs one miss.
        self._head: tuple[int, str] = (0, GENESIS_HASH)

    async def append(self, events: Sequence[AuditEvent]) -> None:
        """Chain and commit ``events`` in one transaction; raise if it is not known to be committed."""
        try:
            driver, statement = await self._prepared()
            if await self._try(statement, events):  # autocommit: one round trip
                return
            self.misses += 1
            # Another writer moved the head since our last batch. Trying again the same way could miss
            # forever: a writer that just appended knows the new head first, so two busy processes'
            # writers would leave one of them always a batch behind. So the retry runs in a transaction:
            # its statement locks the head until COMMIT, so when it misses too it returns the head
            # nobody else can move, and the try after it cannot miss.
            async with driver.transaction():
                if not await self._try(statement, events) and not await self._try(statement, events):
                    raise RuntimeError("the audit head moved while this writer held its lock")
        except BaseException:
            # Whether the statement committed is unknown (a lost connection, a cancellation): drop the
            # connection (the head it remembers is only a guess; a wrong one costs a miss).
            await self.close(invalidate=True)
            raise

    async def _try(self, statement: Any, events: Sequence[AuditEvent]) -> bool:
        """One statement: True if the batch was written after the remembered head, else False (nothing
        written) with the head it found remembered instead."""
        seq, prev_hash = self._head
        rows = chain_rows(seq, prev_hash, events)
        last = rows[-1]
        head = await statement.fetchrow(seq, prev_hash, last["seq"], last["hash"], *_arrays(rows))
        if head is None:
            raise HeadMissing("the audit chain head row is missing")
        if (head["seq"], head["hash"]) == (seq, prev_hash):
            self._head = (last["seq"], last["hash"])
            return True
        self._head = (head["seq"], head["hash"])
        return False

    async def close(self, *, invalidate: bool = False) -> None:
        """Give the connection back to the pool (``invalidate``: discard it); safe to call twice."""
        connection, self._connection, self._driver, self._statement = self._connection, None, None, None
        if connection is None:
            return
        if invalidate:
            await connection.invalidate()
        await connection.close()

    async def _prepared(self) -> tuple[Any, Any]:
        """asyncpg's connection and the prepared statement on it (asyncpg has no type hints)."""
        if self._statement is None:
            self._connection = await self._engine.connect()
            self._driver = (await self._connection.get_raw_connection()).driver_connection
            assert self._driver is not None  # a checked-out connection is connected
            self._statement = await self._driver.prepare(_APPEND)
        return self._driver, self._statement


def _arrays(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """One array per column, in ``_COLUMNS`` order (``unnest`` turns them back into rows)."""
    return [[bind(row[name]) for row in rows] for name, _, bind in _COLUMNS]

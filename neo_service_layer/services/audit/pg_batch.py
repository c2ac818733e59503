"""The group-commit writer's batch on PostgreSQL: one call of ``nsl_audit_append``, commit included.

The locked append (``chain.append_rows``) takes six round trips through SQLAlchemy (pool pre-ping,
BEGIN, the head's ``SELECT … FOR UPDATE``, INSERT, head UPDATE, COMMIT) and ~700 µs of the API
process's CPU per batch, most of it the client's work per round trip. Here the batch is one
statement on the writer's own connection, outside any explicit transaction (PostgreSQL commits it
before it answers: the waiters still wake only after the commit): ``SELECT nsl_audit_append(…)``, the
database function of migration 0015, which locks the head row, stamps the batch with the time read
under the lock, numbers and hashes its entries after the head, inserts them and moves the head.

The database chains, not this process, because several processes append at once (``nsl api --workers
N``: each worker its own writer): whoever holds the head's row lock appends after the head it sees,
so no writer needs to know the head, none can miss it, and none waits for another process to hand it
the head. (The previous design chained in Python after the head its last batch had left and had
PostgreSQL compare-and-set it: with two workers nearly every batch missed, and a single writer
process fed over a socket cost more than the misses: docs/performance.md, "Eighth round".)

What this process still does is everything that does not depend on the head: each entry's canonical
JSON around its time and number (``chain.body_parts``), its redaction, and the column values. So the
chain, the head and the lock are exactly those of the locked append, and ``chain.verify`` checks both
alike.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from asyncpg.exceptions import NoDataFoundError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from neo_service_layer.services.audit.chain import AuditEvent, body_parts, redact

# The function's parameters, in order, and the PostgreSQL type of each array.
_PARAMETERS = (
    "varchar",  # account_id
    "varchar",  # actor
    "varchar",  # action
    "varchar",  # resource
    "varchar",  # outcome
    "int",  # status_code
    "varchar",  # request_id
    "json",  # details
    "text",  # body head (chain.body_parts)
    "text",  # body mid
    "text",  # body tail
)
# Made of this module's constants only (no input reaches the text: the values are bound).
_APPEND = "SELECT nsl_audit_append({})".format(
    ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(_PARAMETERS, 1))
)


class HeadMissing(RuntimeError):
    """The chain's head row is gone: nothing can be appended (the database was tampered with)."""


class PostgresBatchAppender:
    """Appends the writer's batches on one connection of its own, one statement per batch.

    One batch at a time (the writer's one task): the connection runs one statement at a time."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._statement: Any = None

    async def append(self, events: Sequence[AuditEvent]) -> None:
        """Chain and commit ``events`` in one transaction; raise if it is not known to be committed."""
        try:
            statement = await self._prepared()
            await statement.fetchval(*_arrays(events))
        except NoDataFoundError as exc:  # raised by the function, before it wrote anything
            await self.close(invalidate=True)
            raise HeadMissing("the audit chain head row is missing") from exc
        except BaseException:
            # Whether the statement committed is unknown (a lost connection, a cancellation): drop the
            # connection rather than reuse one in an unknown state.
            await self.close(invalidate=True)
            raise

    async def close(self, *, invalidate: bool = False) -> None:
        """Give the connection back to the pool (``invalidate``: discard it); safe to call twice."""
        connection, self._connection, self._statement = self._connection, None, None
        if connection is None:
            return
        if invalidate:
            await connection.invalidate()
        await connection.close()

    async def _prepared(self) -> Any:
        """The prepared statement on this appender's asyncpg connection (asyncpg has no type hints)."""
        if self._statement is None:
            self._connection = await self._engine.connect()
            driver = (await self._connection.get_raw_connection()).driver_connection
            assert driver is not None  # a checked-out connection is connected
            self._statement = await driver.prepare(_APPEND)
        return self._statement


def _arrays(events: Sequence[AuditEvent]) -> list[list[Any]]:
    """One array per parameter of ``nsl_audit_append``, in ``_PARAMETERS`` order."""
    columns: list[list[Any]] = [[] for _ in _PARAMETERS]
    for event in events:
        details = redact(event.details or {})
        values = (
            event.account_id,
            event.actor,
            event.action,
            event.resource,
            str(event.outcome),
            event.status_code,
            event.request_id,
            json.dumps(details),  # as SQLAlchemy's JSON type binds it
            *body_parts(event, details),
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    return columns

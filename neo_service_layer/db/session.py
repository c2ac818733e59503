"""Engine and sessions; the one place where tenant scoping is enforced.

A session opened with ``account_id`` adds ``account_id == <tenant>`` to every ORM query on a
:class:`~neo_service_layer.db.base.TenantOwned` model (``with_loader_criteria``, the documented
SQLAlchemy recipe for multi-tenancy) and refuses to flush a row that belongs to another account, or a
:class:`~neo_service_layer.db.base.PlatformOwned` row (readable by every account, written by none).
A Core statement run on the session's connection gets none of this: it filters on ``TENANT_KEY``
itself (``services.keys.operations.use``, the signature path's one read).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, with_loader_criteria
from sqlalchemy.pool import ConnectionPoolEntry, PoolResetState

from neo_service_layer.db import sqlite_cursor
from neo_service_layer.db.base import PlatformOwned, TenantOwned

TENANT_KEY = "account_id"
# session.info flag: the session flushed changes or ran a statement other than a SELECT.
WROTE_KEY = "nsl_wrote"
# Execution option of the engine behind ``session(for_read=True)``: SQLite begins deferred.
READ_TRANSACTION = "nsl_read_transaction"


class CrossTenantWrite(RuntimeError):
    """A tenant-scoped session tried to write a row of another account, or a platform row (a
    programming error)."""


class Database:
    """Owns the async engine. ``session()`` for platform work, ``session(account_id)`` for a tenant."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            # One connection per process: SQLite allows one writer, and waiting on the pool is an
            # asyncio wait, whereas waiting on SQLITE_BUSY is a sleeping poll in a thread.
            # The reset on return is ours (_on_reset): the same rollback, without a thread round trip
            # when there is nothing to roll back.
            self.engine: AsyncEngine = create_async_engine(
                url,
                pool_size=1,
                max_overflow=0,
                pool_timeout=60,
                pool_reset_on_return=None,
                # Statements run on the loop's thread as well as on aiosqlite's (db.sqlite_cursor);
                # the connection is only ever used by one of them at a time.
                connect_args={"timeout": sqlite_cursor.BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            )
            _configure_sqlite(self.engine)
        else:
            self.engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # The same pool; only how SQLite begins differs (see _on_begin).
        self._read_sessions = async_sessionmaker(
            self.engine.execution_options(**{READ_TRANSACTION: True}), expire_on_commit=False
        )

    @asynccontextmanager
    async def reading_beside(
        self, current: AsyncSession | None, account_id: str
    ) -> AsyncIterator[AsyncSession]:
        """A session to read in before a slow call (the enclave, the network) made inside ``current``'s
        unit of work: a short read session of its own, so that no write transaction is held across the
        call — unless ``current`` has begun its transaction already (an Idempotency-Key was looked up in
        it): then ``current`` itself, since it holds a connection, on SQLite the process's only one, which
        a second session would wait for forever."""
        if current is not None and current.in_transaction():
            yield current
            return
        async with self.session(account_id, for_read=True) as session:
            yield session

    def session(self, account_id: str | None = None, *, for_read: bool = False) -> AsyncSession:
        """A new session; scoped to ``account_id`` when given.

        ``for_read``: a session meant to only read (a GET). On SQLite its transaction begins deferred,
        taking no write lock, so it neither waits for nor blocks writers. Writing in it still works
        (SQLite takes the lock at the first write, and fails with SQLITE_BUSY_SNAPSHOT rather than
        overwrite if another process committed since the read began), and :func:`wrote` tells.
        """
        session = (self._read_sessions if for_read else self._sessions)()
        if account_id is not None:
            session.sync_session.info[TENANT_KEY] = account_id
        return session

    @asynccontextmanager
    async def transaction(self, account_id: str | None = None) -> AsyncIterator[AsyncSession]:
        """A session in a transaction that commits on success and rolls back on any error."""
        async with self.session(account_id) as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Statements on the loop's thread unless they would wait (db.sqlite_cursor).
        sqlite_cursor.install(dbapi_connection)
        # Take over transaction control from the driver so that BEGIN IMMEDIATE below is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # First, so that no statement on the loop's thread sleeps on a lock (it goes to the thread).
        cursor.execute(f"PRAGMA busy_timeout={sqlite_cursor.INLINE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints on aiosqlite's thread, not inside a commit on the loop's (db.sqlite_cursor).
        cursor.execute(f"PRAGMA wal_autocheckpoint={sqlite_cursor.AUTOCHECKPOINT_OFF}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_connection: Any, record: ConnectionPoolEntry, state: PoolResetState) -> None:
        # What the pool's default reset does (a rollback), minus the round trip to aiosqlite's thread
        # when no transaction is open, which is after every commit: the pool's rollback is
        # sqlite3's Connection.rollback(), itself a no-op unless sqlite3_get_autocommit() says a
        # transaction is open, the same state in_transaction reads. Savepoints count as open.
        # Not asyncio-safe (a connection collected outside the loop): the pool discards it anyway.
        if state.terminate_only or not state.asyncio_safe:
            return
        if record.driver_connection is None or record.driver_connection.in_transaction:
            dbapi_connection.rollback()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
        # writes fails with SQLITE_BUSY_SNAPSHOT when another process wrote in between, instead
        # of waiting. This also makes job claims safe without SKIP LOCKED.
        # A read transaction begins deferred: it never upgrades to a writer, so it cannot meet
        # SQLITE_BUSY_SNAPSHOT, and in WAL mode it reads a snapshot without waiting for writers.
        # Through the inline cursor: on the loop's thread, or on aiosqlite's if another connection
        # holds the write lock (a BEGIN IMMEDIATE that would wait for it).
        statement = "BEGIN" if connection.get_execution_options().get(READ_TRANSACTION) else "BEGIN IMMEDIATE"
        dbapi_connection = connection.connection.dbapi_connection
        assert dbapi_connection is not None  # a connection being begun is checked out and live
        dbapi_connection.cursor().execute(statement)


@event.listens_for(Session, "do_orm_execute")
def _scope_queries_to_tenant(state: ORMExecuteState) -> None:
    tenant = state.session.info.get(TENANT_KEY)
    if tenant is None:
        return
    if not state.is_select:
        # Only writes look at the mapper (bind_mapper costs a lookup on every read otherwise).
        mapper = state.bind_mapper
        if mapper is not None and issubclass(mapper.class_, PlatformOwned):
            raise CrossTenantWrite(
                f"{mapper.class_.__name__} is platform data: a tenant session cannot write it"
            )
    if state.is_insert:
        # An INSERT statement's values are not ours to inspect reliably; tenant rows are written
        # through the unit of work (session.add), which before_flush checks.
        mapper = state.bind_mapper
        if mapper is not None and issubclass(mapper.class_, TenantOwned):
            raise CrossTenantWrite("INSERT statements on tenant tables are refused in a tenant session")
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    state.statement = state.statement.options(
        with_loader_criteria(TenantOwned, lambda cls: cls.account_id == tenant, include_aliases=True)
    )


def wrote(session: AsyncSession) -> bool:
    """Whether ``session`` wrote since it was opened, or holds changes its commit would flush.

    Written: a flush that had work, or any statement but a SELECT.
    """
    sync = session.sync_session
    return bool(sync.info.get(WROTE_KEY) or sync.new or sync.dirty or sync.deleted)


@event.listens_for(Session, "do_orm_execute")
def _note_statements(state: ORMExecuteState) -> None:
    # Conservative: anything but a SELECT (UPDATE, DELETE, INSERT, text()) counts as a write.
    if not state.is_select:
        state.session.info[WROTE_KEY] = True


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _flush: UOWTransaction) -> None:
    # Fires only for a flush that had something to write.
    session.info[WROTE_KEY] = True


@event.listens_for(Session, "before_flush")
def _refuse_cross_tenant_writes(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    tenant = session.info.get(TENANT_KEY)
    if tenant is None:
        return
    for obj in [*session.new, *session.dirty, *session.deleted]:
        if isinstance(obj, PlatformOwned):
            raise CrossTenantWrite(f"{type(obj).__name__} is platform data: a tenant session cannot write it")
        if isinstance(obj, TenantOwned) and obj.account_id != tenant:
            raise CrossTenantWrite(f"{type(obj).__name__} of another account in a session of {tenant}")

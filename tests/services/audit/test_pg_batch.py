"""The writer's one-statement batch on PostgreSQL: it chains after whatever else appended, never forks the
chain, writes nothing when its guess of the head is stale, and fails closed when its connection dies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from sqlalchemy import delete, func, select, text

from neo_service_layer.db.models import AuditEntry, AuditHead, Outcome
from neo_service_layer.db.session import Database
from neo_service_layer.services.audit import pg_batch
from neo_service_layer.services.audit.chain import HEAD_ID, AuditEvent, append, verify
from neo_service_layer.services.audit.pg_batch import PostgresBatchAppender
from tests.conftest import POSTGRES_URL
from tests.services.audit.helpers import EVENT as AUDIT_EVENT

# Details with a nested JSON value: stored as JSON text, they must read back to what was hashed.
EVENT = replace(AUDIT_EVENT, details={"name": "é", "nested": {"list": [1, 2.5, None, True]}})


def events(prefix: str, count: int) -> list[AuditEvent]:
    return [replace(EVENT, request_id=f"{prefix}_{n}") for n in range(count)]


# The one-statement batch is PostgreSQL's; SQLite keeps the locked append (test_writer.py).
pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="NSL_TEST_POSTGRES_URL is not set")


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> str:
    """The PostgreSQL test database, emptied (synchronous: the reset runs its own event loop)."""
    request.getfixturevalue("postgres_reset").empty()
    assert POSTGRES_URL
    return POSTGRES_URL


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[Database]:
    db = Database(pg_url)
    yield db
    await db.dispose()


@pytest.fixture
async def appender(pg: Database) -> AsyncIterator[PostgresBatchAppender]:
    batches = PostgresBatchAppender(pg.engine)
    yield batches
    await batches.close()


async def request_ids(db: Database) -> list[str]:
    async with db.session() as session:
        statement = select(AuditEntry.request_id).order_by(AuditEntry.seq)
        return list((await session.execute(statement)).scalars())


async def assert_one_chain(db: Database, entries: int) -> None:
    async with db.session() as session:
        report = await verify(session)
        head = (await session.execute(select(AuditHead.seq))).scalar_one()
    assert report.ok, report
    assert (report.entries, head) == (entries, entries)


async def test_batches_chain_as_the_locked_append_does(pg: Database, appender: PostgresBatchAppender) -> None:
    await appender.append(events("a", 3))
    await appender.append(events("b", 1))
    assert await request_ids(pg) == ["a_0", "a_1", "a_2", "b_0"]
    await assert_one_chain(pg, 4)
    async with pg.session() as session:
        stored = (await session.execute(select(AuditEntry).order_by(AuditEntry.seq))).scalars().all()
    # Every field as given (the JSON details, the outcome's value), so the verifier's hash matches.
    assert stored[0].details == EVENT.details
    assert stored[0].outcome is Outcome.SUCCESS


async def test_a_stale_head_writes_nothing_and_the_batch_chains_after_the_other_append(
    pg: Database, appender: PostgresBatchAppender
) -> None:
    await appender.append(events("a", 2))
    # Another appender (a request's own transaction) moves the head: the writer's guess is now stale.
    async with pg.transaction() as session:
        await append(session, replace(EVENT, request_id="own"))
    await appender.append(events("b", 2))
    assert await request_ids(pg) == ["a_0", "a_1", "own", "b_0", "b_1"]
    await assert_one_chain(pg, 5)


async def test_a_batch_waits_for_a_transaction_holding_the_head_then_chains_after_it(
    pg: Database, appender: PostgresBatchAppender
) -> None:
    await appender.append(events("a", 1))
    async with pg.transaction() as session:
        await append(session, replace(EVENT, request_id="own"))  # holds the head's row lock until commit
        batch = asyncio.create_task(appender.append(events("b", 1)))
        await asyncio.sleep(0.1)  # the batch's statement reaches the lock (or not: the order is the same)
    await batch
    assert await request_ids(pg) == ["a_0", "own", "b_0"]
    await assert_one_chain(pg, 3)


async def test_writers_of_two_processes_interleave_into_one_chain(pg: Database) -> None:
    # Two engines: two processes' writers, each with its own guess of the head.
    other_db = Database(pg.url)
    first, second = PostgresBatchAppender(pg.engine), PostgresBatchAppender(other_db.engine)

    async def writer(batches: PostgresBatchAppender, name: str, size: int) -> None:
        for n in range(40):  # one batch at a time, as the writer's one task appends, without a pause
            await batches.append(events(f"{name}_{n}", size))

    try:
        # Without the locked retry, the writer that appended last always knows the head first and the
        # other one can miss every try (it did: 20 misses in a row in a benchmark of two processes).
        await asyncio.gather(writer(first, "p1", 3), writer(second, "p2", 2))
    finally:
        await first.close()
        await second.close()
        await other_db.dispose()
    await assert_one_chain(pg, 200)
    assert first.misses + second.misses > 0  # they did contend, and every batch got through


async def test_a_miss_retries_under_the_lock_and_the_next_batch_hits_again(
    pg: Database, appender: PostgresBatchAppender
) -> None:
    await appender.append(events("a", 1))
    async with pg.transaction() as session:
        await append(session, replace(EVENT, request_id="own"))
    await appender.append(events("b", 1))
    await appender.append(events("c", 1))
    assert appender.misses == 1  # "b" missed once; "c" chained after "b" at the first try
    assert await request_ids(pg) == ["a_0", "own", "b_0", "c_0"]
    await assert_one_chain(pg, 4)


async def test_a_dead_connection_fails_the_batch_and_the_next_one_reconnects(
    pg: Database, appender: PostgresBatchAppender
) -> None:
    await appender.append(events("a", 1))
    async with pg.engine.connect() as connection:
        killed = await connection.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND datname = current_database() "
                "AND query LIKE '%audit_head%FOR UPDATE%'"
            )
        )
    assert killed == 1
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the driver raises: not committed
        await appender.append(events("lost", 1))
    await appender.append(events("b", 1))
    assert await request_ids(pg) == ["a_0", "b_0"]
    await assert_one_chain(pg, 2)


async def test_a_missing_head_fails_the_batch(pg: Database, appender: PostgresBatchAppender) -> None:
    async with pg.transaction() as session:
        head = (await session.execute(select(AuditHead))).scalar_one()
        saved = (head.seq, head.hash)
        await session.execute(delete(AuditHead))
    try:
        with pytest.raises(pg_batch.HeadMissing):
            await appender.append(events("a", 1))
        async with pg.session() as session:
            assert (await session.execute(select(func.count()).select_from(AuditEntry))).scalar_one() == 0
    finally:
        async with pg.transaction() as session:  # the next tests' database keeps its head row
            session.add(AuditHead(id=HEAD_ID, seq=saved[0], hash=saved[1]))

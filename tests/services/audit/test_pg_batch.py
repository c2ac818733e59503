"""The writer's one-statement batch on PostgreSQL (``nsl_audit_append``, the database chains under the head
lock): it chains after whatever else appended, never forks the chain, hashes exactly as the verifier
does, and fails closed when its connection dies or the head is gone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

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


async def test_a_batch_chains_after_another_append_it_did_not_see(
    pg: Database, appender: PostgresBatchAppender
) -> None:
    await appender.append(events("a", 2))
    # Another appender (a request's own transaction) moves the head: the batch needs no news of it.
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
    # Two engines: two processes' writers (nsl api --workers 2: each worker appends its own batches).
    other_db = Database(pg.url)
    first, second = PostgresBatchAppender(pg.engine), PostgresBatchAppender(other_db.engine)

    async def writer(batches: PostgresBatchAppender, name: str, size: int) -> None:
        for n in range(40):  # one batch at a time, as the writer's one task appends, without a pause
            await batches.append(events(f"{name}_{n}", size))

    try:
        await asyncio.gather(writer(first, "p1", 3), writer(second, "p2", 2))
    finally:
        await first.close()
        await second.close()
        await other_db.dispose()
    await assert_one_chain(pg, 200)
    written = await request_ids(pg)
    # Each writer's entries in its order, each batch's entries next to each other.
    for name, size in (("p1", 3), ("p2", 2)):
        mine = [request_id for request_id in written if request_id.startswith(f"{name}_")]
        assert mine == [f"{name}_{n}_{k}" for n in range(40) for k in range(size)]
    batches = [request_id.rsplit("_", 1)[0] for request_id in written]  # "p1_7_2" -> "p1_7"
    runs = [batch for i, batch in enumerate(batches) if i == 0 or batch != batches[i - 1]]
    assert len(runs) == 80


async def test_a_batch_is_stamped_with_one_time_under_the_lock_in_chain_order(
    pg: Database, appender: PostgresBatchAppender
) -> None:
    await appender.append(events("a", 3))
    await appender.append(events("b", 2))
    async with pg.session() as session:
        times = (
            (await session.execute(select(AuditEntry.created_at).order_by(AuditEntry.seq))).scalars().all()
        )
    assert times[0] == times[1] == times[2] < times[3] == times[4]
    assert all(time.tzinfo is not None and time.utcoffset() == timedelta(0) for time in times)


async def test_a_dead_connection_fails_the_batch_and_the_next_one_reconnects(
    pg: Database, appender: PostgresBatchAppender
) -> None:
    await appender.append(events("a", 1))
    async with pg.engine.connect() as connection:
        killed = await connection.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND datname = current_database() "
                "AND query LIKE '%nsl_audit_append%'"
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


async def test_a_tampered_append_function_is_caught_by_verify(
    pg: Database, appender: PostgresBatchAppender
) -> None:
    """Someone who may replace database functions swaps nsl_audit_append for one that hashes another
    body: the entries it writes do not verify, since the verifier recomputes every hash itself."""
    await appender.append(events("a", 2))
    async with pg.engine.begin() as connection:
        original = await connection.scalar(text("SELECT pg_get_functiondef('nsl_audit_append'::regproc)"))
        assert "|| head_seq ||" in original
        await connection.exec_driver_sql(original.replace("|| head_seq ||", "|| (head_seq + 1) ||"))
    try:
        await appender.append(events("b", 2))
    finally:
        async with pg.engine.begin() as connection:
            await connection.exec_driver_sql(original)  # CREATE OR REPLACE: the next tests get it back
    async with pg.session() as session:
        report = await verify(session)
    assert (report.ok, report.bad_seq) == (False, 3)
    assert report.reason == "entry content does not match its hash"

"""Group commit of audit entries: batches chain like single appends, fail together, and drain on stop."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from neo_service_layer.db.models import AuditEntry, Outcome
from neo_service_layer.db.session import Database
from neo_service_layer.errors import ServiceUnavailable
from neo_service_layer.services.audit.chain import AuditEvent, verify
from neo_service_layer.services.audit.errors import AuditWriteFailed
from neo_service_layer.services.audit.writer import AuditWriter
from tests.services.audit.helpers import without_audit_head

EVENT = AuditEvent(
    actor="api_key:key_1",
    action="account.get",
    resource="/v1/account",
    outcome=Outcome.SUCCESS,
    status_code=200,
    request_id="req_0",
    account_id="acc_1",
)


def events(count: int) -> list[AuditEvent]:
    return [replace(EVENT, request_id=f"req_{n}") for n in range(count)]


async def stored(db: Database) -> list[AuditEntry]:
    async with db.session() as session:
        return list((await session.execute(select(AuditEntry).order_by(AuditEntry.seq))).scalars())


async def chain_ok(db: Database) -> bool:
    async with db.session() as session:
        return (await verify(session)).ok


async def test_concurrent_appends_share_transactions_and_chain_in_order(
    db: Database, writer: AuditWriter
) -> None:
    batch = events(50)
    await asyncio.gather(*(writer.append(event) for event in batch))
    entries = await stored(db)
    # Queue order is chain order: gather starts the appends in list order.
    assert [e.request_id for e in entries] == [e.request_id for e in batch]
    assert [e.seq for e in entries] == list(range(1, 51))
    assert await chain_ok(db)
    # Fewer transactions than entries, none larger than the bound.
    assert writer.entries == 50
    assert writer.batches < 50
    assert writer.largest_batch <= 8


async def test_a_lone_append_commits_at_once(db: Database, writer: AuditWriter) -> None:
    await writer.append(EVENT)
    assert [e.request_id for e in await stored(db)] == ["req_0"]
    assert (writer.batches, writer.entries) == (1, 1)


async def test_a_failed_batch_fails_every_waiter_and_the_writer_recovers(
    db: Database, writer: AuditWriter
) -> None:
    async with without_audit_head(db):
        appends = (writer.append(event) for event in events(20))
        results = await asyncio.gather(*appends, return_exceptions=True)
    assert all(isinstance(result, AuditWriteFailed) for result in results)
    assert all(isinstance(result, Exception) and result.__cause__ is not None for result in results)
    assert await stored(db) == []
    # The writer task survived the failure and commits the next batch.
    await writer.append(EVENT)
    assert [e.seq for e in await stored(db)] == [1]
    assert await chain_ok(db)


async def test_stop_drains_the_queue_then_refuses(db: Database) -> None:
    writer = AuditWriter(db, max_batch=4)
    await writer.start()
    await writer.start()  # a second start changes nothing
    pending = [asyncio.create_task(writer.append(event)) for event in events(30)]
    await asyncio.sleep(0)  # the appends queue their entries
    await writer.stop()
    await writer.stop()  # safe twice
    # Committed, in queue order, by the time stop returned; and no waiter was failed.
    assert [e.request_id for e in await stored(db)] == [f"req_{n}" for n in range(30)]
    assert await asyncio.gather(*pending) == [None] * 30
    assert await chain_ok(db)
    with pytest.raises(ServiceUnavailable):
        await writer.append(EVENT)


async def test_a_cancelled_waiter_still_gets_its_entry_written(db: Database, writer: AuditWriter) -> None:
    # The response of a cancelled request is never sent; its entry must be written all the same.
    waiting = asyncio.create_task(writer.append(EVENT))
    await asyncio.sleep(0)
    waiting.cancel()
    await writer.append(replace(EVENT, request_id="req_after"))
    assert [e.request_id for e in await stored(db)] == ["req_0", "req_after"]


async def test_submit_queues_without_waiting_and_refuses_beyond_the_queue(db: Database) -> None:
    writer = AuditWriter(db, max_batch=2, max_queue=3)
    await writer.start()
    try:
        # Submitted in one turn: the writer's task has not run, so the queue holds all three.
        futures = [writer.submit(event) for event in events(3)]
        with pytest.raises(asyncio.QueueFull):
            writer.submit(replace(EVENT, request_id="req_beyond"))
        assert not any(future.done() for future in futures)  # committed later, not yet
        assert await asyncio.gather(*futures) == [None] * 3
    finally:
        await writer.stop()
    assert [e.request_id for e in await stored(db)] == ["req_0", "req_1", "req_2"]
    assert await chain_ok(db)
    with pytest.raises(ServiceUnavailable):  # stopped: refused at once, as append
        writer.submit(EVENT)


async def test_a_failed_batch_fails_the_submitted_futures(db: Database, writer: AuditWriter) -> None:
    async with without_audit_head(db):
        futures = [writer.submit(event) for event in events(3)]
        results = await asyncio.gather(*futures, return_exceptions=True)
    assert all(isinstance(result, AuditWriteFailed) for result in results), results


@pytest.mark.parametrize(("max_batch", "max_queue"), [(0, 1), (1, 0)], ids=["batch", "queue"])
def test_bounds_must_be_positive(tmp_path: Path, max_batch: int, max_queue: int) -> None:
    # The engine connects lazily: nothing is opened here.
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'nsl.db'}")
    with pytest.raises(ValueError, match="at least 1"):
        AuditWriter(db, max_batch=max_batch, max_queue=max_queue)


async def _two_arrivals(writer: AuditWriter, gap: float) -> None:
    """One append, then another ``gap`` seconds later, both awaited."""
    first = asyncio.create_task(writer.append(replace(EVENT, request_id="req_a")))
    await asyncio.sleep(gap)
    await asyncio.gather(first, writer.append(replace(EVENT, request_id="req_b")))


@pytest.mark.parametrize(
    ("linger", "busy", "batches"),
    [
        # A busy writer (last batch > 1) waits for its batch: the second arrival joins the first.
        pytest.param(0.5, True, 1, id="busy-lingers"),
        # An idle writer (last batch of one) commits at once: a lone request never waits.
        pytest.param(0.5, False, 2, id="idle-does-not"),
        pytest.param(0.0, True, 2, id="linger-off"),
    ],
)
async def test_a_busy_writer_lingers_for_its_batch_to_fill(
    db: Database, linger: float, busy: bool, batches: int
) -> None:
    writer = AuditWriter(db, linger_seconds=linger)
    await writer.start()
    try:
        warm = events(4 if busy else 1)
        await asyncio.gather(*(writer.append(event) for event in warm))
        assert writer.largest_batch == len(warm)  # queued before the writer woke: one batch
        before = writer.batches
        await _two_arrivals(writer, gap=0.05)
        assert writer.batches - before == batches
        assert await chain_ok(db)
    finally:
        await writer.stop()


async def test_a_busy_writer_whose_batch_is_already_full_does_not_linger(db: Database) -> None:
    # As many entries queued as the last batch held: waiting for more would only idle the requests.
    writer = AuditWriter(db, linger_seconds=0.5)
    await writer.start()
    try:
        await asyncio.gather(*(writer.append(event) for event in events(4)))
        before = writer.batches
        together = asyncio.gather(*(writer.append(replace(EVENT, request_id=f"req_t{n}")) for n in range(4)))
        await asyncio.sleep(0.05)
        # Lingering, the writer would still be waiting, and this one would join the four.
        late = asyncio.create_task(writer.append(replace(EVENT, request_id="req_late")))
        await asyncio.gather(together, late)
        assert writer.batches - before == 2
        assert await chain_ok(db)
    finally:
        await writer.stop()


async def test_a_linger_ends_when_the_batch_is_as_large_as_the_last(db: Database) -> None:
    # With several workers' entries through one writer the batch is often whole early: the rest of
    # the linger would only idle every request of it. (A plain sleep here waits the whole minute.)
    writer = AuditWriter(db, linger_seconds=60)
    await writer.start()
    try:
        await asyncio.gather(*(writer.append(event) for event in events(4)))
        before = writer.batches
        first = asyncio.create_task(writer.append(replace(EVENT, request_id="req_f0")))
        await asyncio.sleep(0.05)  # the writer took the first and lingers for three more
        rest = [writer.append(replace(EVENT, request_id=f"req_f{n}")) for n in range(1, 4)]
        await asyncio.wait_for(asyncio.gather(first, *rest), timeout=10)
        assert writer.batches - before == 1
        assert writer.largest_batch == 4
        assert await chain_ok(db)
    finally:
        await writer.stop()


def test_linger_must_not_be_negative(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'nsl.db'}")
    with pytest.raises(ValueError, match="linger_seconds"):
        AuditWriter(db, linger_seconds=-1)

"""Making checkpoints of the audit chain with the real enclave: when they are due (the clock injected),
how a long stretch is split, that two writers cannot fork the stored chain, that the enclave's head is
never stored over a chain that was rewritten under it, and the export format."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from neo_service_layer.client import VerifiedIdentity, verify_result
from neo_service_layer.db.models import AuditCheckpoint, AuditEntry
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.opdefs.audit import (
    CHECKPOINT_REQUEST,
    GENESIS_HASH,
    MAX_CHECKPOINT_ENTRIES,
    CheckpointResult,
)
from neo_service_layer.services.audit import checkpoints
from neo_service_layer.services.audit.chain import entry_body
from neo_service_layer.services.audit.checkpoints import (
    ChainState,
    CheckpointPolicy,
    checkpoint_due,
    checkpoint_if_due,
    create_checkpoints,
    export_line,
    parse_export,
    stored_checkpoints,
)
from neo_service_layer.services.audit.errors import AuditCheckpointRefused, AuditCheckpointsInvalid
from tests.services.audit.helpers import append_entries, rewrite, tamper, tampering

T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
POLICY = CheckpointPolicy(every_entries=5, interval=timedelta(seconds=60))


async def stored(db: Database) -> list[AuditCheckpoint]:
    return [row async for row in stored_checkpoints(db)]


async def plant(db: Database, like: AuditCheckpoint, **values: Any) -> None:
    """Insert a checkpoint row the enclave did not make (``like``'s envelope unless ``values`` say)."""
    row = {
        "hash": "ab" * 32,
        "checkpoint_hash": "cd" * 32,
        "signed_at": like.signed_at,
        "envelope": like.envelope,
    } | values
    async with tampering(db) as session:
        session.add(AuditCheckpoint(**row))


@pytest.mark.parametrize(
    ("state", "now", "due"),
    [
        pytest.param(ChainState(0, 0, None), T0, False, id="empty-log"),
        pytest.param(ChainState(1, 0, None), T0, True, id="first-checkpoint-at-once"),
        pytest.param(ChainState(7, 7, T0), T0 + timedelta(days=1), False, id="nothing-after-the-last"),
        pytest.param(ChainState(11, 7, T0), T0 + timedelta(seconds=1), False, id="few-and-recent"),
        pytest.param(ChainState(12, 7, T0), T0 + timedelta(seconds=1), True, id="every-n-entries"),
        pytest.param(ChainState(8, 7, T0), T0 + timedelta(seconds=59), False, id="interval-not-yet"),
        pytest.param(ChainState(8, 7, T0), T0 + timedelta(seconds=60), True, id="interval-elapsed"),
    ],
)
def test_when_a_checkpoint_is_due(state: ChainState, now: datetime, due: bool) -> None:
    assert checkpoint_due(state, POLICY, now) is due


async def test_checkpoints_follow_the_policy_with_an_injected_clock(
    db: Database, enclave: UnixEnclaveClient
) -> None:
    """Scheduling end to end: after N entries, or T seconds after the last checkpoint; no sleeping."""
    await append_entries(db, 3)
    (first,) = await checkpoint_if_due(db, enclave, POLICY, T0)  # the first one at once
    assert first.seq == 3
    signed_at = first.signed_at  # the enclave's clock: the next decisions count from it
    await append_entries(db, 4)
    assert await checkpoint_if_due(db, enclave, POLICY, signed_at + timedelta(seconds=59)) == []
    await append_entries(db, 1)  # 5 entries after the checkpoint
    (by_count,) = await checkpoint_if_due(db, enclave, POLICY, signed_at + timedelta(seconds=1))
    assert by_count.seq == 8
    await append_entries(db, 1)
    later = by_count.signed_at
    assert await checkpoint_if_due(db, enclave, POLICY, later + timedelta(seconds=59)) == []
    (by_time,) = await checkpoint_if_due(db, enclave, POLICY, later + timedelta(seconds=60))
    assert by_time.seq == 9
    assert await checkpoint_if_due(db, enclave, POLICY, later + timedelta(days=1)) == []  # nothing new
    assert [row.seq for row in await stored(db)] == [3, 8, 9]


async def test_a_long_stretch_becomes_a_chain_of_checkpoints(
    db: Database, enclave: UnixEnclaveClient, identity: VerifiedIdentity
) -> None:
    await append_entries(db, 10)
    created = await create_checkpoints(db, enclave, max_entries=4)
    assert [row.seq for row in created] == [4, 8, 10]
    assert await create_checkpoints(db, enclave) == []
    async with db.session() as session:
        hashes = {seq: hash_ for seq, hash_ in await session.execute(select(AuditEntry.seq, AuditEntry.hash))}
    prev = GENESIS_HASH
    for row in await stored(db):
        checkpoint = CheckpointResult.model_validate(
            verify_result(row.envelope, identity, request=CHECKPOINT_REQUEST)
        )
        assert (checkpoint.seq, checkpoint.hash, checkpoint.prev_checkpoint) == (
            row.seq,
            hashes[row.seq],
            prev,
        )
        assert (row.hash, row.prev_checkpoint) == (checkpoint.hash, prev)
        prev = row.checkpoint_hash


async def test_large_entries_are_split_by_size(
    db: Database, enclave: UnixEnclaveClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call stays far below the enclave's frame limit whatever the entries hold (here: 2 entries a call)."""
    monkeypatch.setattr(checkpoints, "MAX_CHECKPOINT_BATCH_BYTES", 2 * len(await _escaped_body(db, enclave)))
    await append_entries(db, 5)
    assert [row.seq for row in await create_checkpoints(db, enclave)] == [3, 5, 6]


async def _escaped_body(db: Database, enclave: UnixEnclaveClient) -> str:
    """The JSON-escaped body of one entry (entry 1, checkpointed on its own)."""
    await append_entries(db, 1)
    await create_checkpoints(db, enclave)
    async with db.session() as session:
        (entry,) = (await session.execute(select(AuditEntry))).scalars()
    return json.dumps(entry_body(entry), ensure_ascii=False)


@pytest.mark.parametrize("max_entries", [0, MAX_CHECKPOINT_ENTRIES + 1])
async def test_a_stretch_fits_one_enclave_call(
    db: Database, enclave: UnixEnclaveClient, max_entries: int
) -> None:
    with pytest.raises(ValueError, match="max_entries"):
        await create_checkpoints(db, enclave, max_entries=max_entries)


async def test_two_writers_at_once_store_one_chain(db: Database, enclave: UnixEnclaveClient) -> None:
    """The worker's job and ``nsl audit checkpoint`` racing: one chain, no error, every entry covered."""
    await append_entries(db, 6)
    other = Database(db.url)
    try:
        await asyncio.gather(create_checkpoints(db, enclave), create_checkpoints(other, enclave))
    finally:
        await other.dispose()
    rows = await stored(db)
    assert rows[-1].seq == 6
    assert [row.prev_checkpoint for row in rows] == [
        GENESIS_HASH,
        *(row.checkpoint_hash for row in rows[:-1]),
    ]


async def test_the_database_refuses_a_second_checkpoint_extending_the_same_one(
    db: Database, enclave: UnixEnclaveClient
) -> None:
    await append_entries(db, 2)
    (row,) = await create_checkpoints(db, enclave)
    with pytest.raises(IntegrityError):
        await plant(db, row, seq=3, prev_checkpoint=row.prev_checkpoint)


async def test_no_checkpoint_is_stored_over_a_chain_rewritten_under_the_last_one(
    db: Database, enclave: UnixEnclaveClient
) -> None:
    """A writer edits entry 2 and recomputes the chain forward: the enclave chains entries 4.. from the
    checkpoint's hash, not from the rewritten one, so its head is not the stored head and is refused."""
    await append_entries(db, 3)
    await create_checkpoints(db, enclave)
    await append_entries(db, 2)
    await rewrite(db, 2, details={"key_id": "forged"})
    with pytest.raises(AuditCheckpointRefused, match="does not extend the checkpoint at entry 3") as caught:
        await create_checkpoints(db, enclave)
    assert (caught.value.code, caught.value.status) == ("audit_checkpoint_refused", 409)
    assert [row.seq for row in await stored(db)] == [3]


async def test_a_deleted_entry_after_the_last_checkpoint_stops_checkpointing(
    db: Database, enclave: UnixEnclaveClient
) -> None:
    await append_entries(db, 5)
    await tamper(db, "DELETE FROM audit_log WHERE seq = 1")
    with pytest.raises(AuditCheckpointRefused, match="audit entry 1 is missing"):
        await create_checkpoints(db, enclave)


async def test_a_forged_latest_checkpoint_is_refused_by_the_enclave(
    db: Database, enclave: UnixEnclaveClient
) -> None:
    """A row the writer inserted (it cannot sign) is not extended: the enclave checks its own signature."""
    await append_entries(db, 2)
    (row,) = await create_checkpoints(db, enclave)
    await append_entries(db, 2)
    forged = dict(row.envelope, result={**row.envelope["result"], "seq": 3})
    await plant(db, row, seq=3, prev_checkpoint="ef" * 32, envelope=forged)
    with pytest.raises(AuditCheckpointRefused, match="refused to checkpoint"):
        await create_checkpoints(db, enclave)


async def test_a_latest_checkpoint_that_is_no_envelope_stops_checkpointing(
    db: Database, enclave: UnixEnclaveClient
) -> None:
    await append_entries(db, 2)
    await create_checkpoints(db, enclave)
    await append_entries(db, 1)
    async with tampering(db) as session:
        await session.execute(update(AuditCheckpoint).values(envelope={"seq": 2}))
    with pytest.raises(AuditCheckpointRefused, match="stored checkpoint 2 is not a signed envelope"):
        await create_checkpoints(db, enclave)


async def test_a_planted_row_that_blocks_the_next_checkpoint_is_an_error_not_a_loop(
    db: Database, enclave: UnixEnclaveClient
) -> None:
    """A row below the latest checkpoint claiming to extend it takes the unique ``prev_checkpoint`` the next
    checkpoint needs: the insert fails, the latest checkpoint has not moved, and the job says so."""
    await append_entries(db, 2)
    (row,) = await create_checkpoints(db, enclave)
    await append_entries(db, 1)
    await plant(db, row, seq=1, prev_checkpoint=row.checkpoint_hash)
    with pytest.raises(AuditCheckpointRefused, match="conflicts with the new one but extends no further"):
        await create_checkpoints(db, enclave)


async def test_the_export_holds_every_checkpoint_a_line(
    db: Database, enclave: UnixEnclaveClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoints, "EXPORT_BATCH", 2)  # 3 checkpoints: read in two batches
    await append_entries(db, 5)
    await create_checkpoints(db, enclave, max_entries=2)
    rows = await stored(db)
    assert [row.seq for row in rows] == [2, 4, 5]
    lines = [export_line(row.envelope) for row in rows]
    assert all("\n" not in line for line in lines)
    parsed = parse_export(["", *lines, "  "])
    assert [envelope.model_dump(mode="json") for envelope in parsed] == [row.envelope for row in rows]


@pytest.mark.parametrize(
    ("lines", "line"),
    [
        pytest.param(["not json"], 1, id="not-json"),
        pytest.param(["", "[1, 2]"], 2, id="not-an-object"),
        pytest.param(['{"result": {}, "request_hash": "00"}'], 1, id="no-signatures"),
    ],
)
def test_a_bad_export_names_the_line(lines: list[str], line: int) -> None:
    with pytest.raises(AuditCheckpointsInvalid, match=f"line {line} ") as caught:
        parse_export(lines)
    assert (caught.value.code, caught.value.status) == ("audit_checkpoints_invalid", 422)

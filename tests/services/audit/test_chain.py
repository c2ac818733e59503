"""The audit log: append-only (database triggers), hash-chained, and verification that notices tampering.

The attacker tests drop the append-only triggers first, as someone with write access to the database
could, and then edit or delete rows; ``verify`` must name the first entry that no longer checks out.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import AuditEntry, AuditHead
from neo_service_layer.db.session import Database
from neo_service_layer.services.audit import chain
from neo_service_layer.services.audit.chain import (
    GENESIS_HASH,
    REDACTED,
    append,
    entry_hash,
    redact,
    verify,
)
from tests.services.audit.helpers import EVENT

# How the migration creates the PostgreSQL trigger (restored after the attacker tests).
_PG_TRIGGER = (
    "CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
)


async def append_many(db: Database, count: int) -> list[AuditEntry]:
    entries = []
    for n in range(count):
        async with db.transaction() as session:
            entries.append(await append(session, replace(EVENT, request_id=f"req_{n + 1}")))
    return entries


async def run_verify(db: Database) -> Any:
    async with db.session() as session:
        return await verify(session)


async def execute(db: Database, sql: str, **params: Any) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text(sql), params)


@pytest.fixture
async def no_triggers(db: Database) -> AsyncIterator[Database]:
    """The database with the append-only triggers dropped, as an attacker would; restored afterwards."""
    if db.is_sqlite:
        await execute(db, "DROP TRIGGER audit_log_no_update")
        await execute(db, "DROP TRIGGER audit_log_no_delete")
        yield db
        return
    await execute(db, "DROP TRIGGER audit_log_no_update_delete ON audit_log")
    try:
        yield db
    finally:
        await execute(db, _PG_TRIGGER)


async def test_entries_form_a_chain_from_genesis(db: Database) -> None:
    entries = await append_many(db, 3)
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS_HASH
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    async with db.session() as session:
        head = (await session.execute(select(AuditHead))).scalar_one()
        stored = (await session.execute(select(AuditEntry).order_by(AuditEntry.seq))).scalars().all()
    assert (head.seq, head.hash) == (3, entries[-1].hash)
    assert all(entry_hash(entry) == entry.hash for entry in stored)


async def test_verify_accepts_an_intact_log(db: Database) -> None:
    empty = await run_verify(db)
    assert (empty.ok, empty.entries) == (True, 0)
    await append_many(db, 4)
    report = await run_verify(db)
    assert (report.ok, report.entries, report.bad_seq, report.reason) == (True, 4, None, None)


async def test_an_append_rolls_back_with_its_transaction(db: Database) -> None:
    await append_many(db, 1)

    async def fail_after_append() -> None:
        async with db.transaction() as session:
            await append(session, EVENT)
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        await fail_after_append()
    async with db.session() as session:
        assert (await session.execute(select(AuditHead.seq))).scalar_one() == 1
    assert (await run_verify(db)).ok


async def test_secret_values_are_redacted_before_hashing(db: Database) -> None:
    event = replace(EVENT, details={"key_id": "key_2", "secret": "s3cr3t", "nested": [{"password": "pw"}]})
    async with db.transaction() as session:
        entry = await append(session, event)
    assert entry.details == {"key_id": "key_2", "secret": REDACTED, "nested": [{"password": REDACTED}]}
    async with db.session() as session:
        (stored,) = (await session.execute(select(AuditEntry))).scalars().all()
    assert "s3cr3t" not in str(stored.details)
    assert (await run_verify(db)).ok


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"],
    ids=["update", "delete"],
)
async def test_the_database_refuses_to_rewrite_history(db: Database, statement: str) -> None:
    await append_many(db, 2)
    with pytest.raises(DBAPIError, match="append-only"):
        await execute(db, statement)
    report = await run_verify(db)
    assert (report.ok, report.entries) == (True, 2)


async def test_an_edited_middle_entry_is_caught(no_triggers: Database) -> None:
    await append_many(no_triggers, 5)
    await execute(no_triggers, "UPDATE audit_log SET outcome = 'denied' WHERE seq = 3")
    report = await run_verify(no_triggers)
    assert (report.ok, report.bad_seq, report.entries) == (False, 3, 2)
    assert report.reason == "entry content does not match its hash"


async def test_an_edited_entry_with_a_recomputed_hash_breaks_the_next_link(no_triggers: Database) -> None:
    await append_many(no_triggers, 5)
    async with no_triggers.transaction() as session:
        entry = (await session.execute(select(AuditEntry).where(AuditEntry.seq == 3))).scalar_one()
        entry.details = {"key_id": "forged"}
        entry.hash = entry_hash(entry)
    report = await run_verify(no_triggers)
    assert (report.ok, report.bad_seq) == (False, 4)
    assert report.reason == "prev_hash does not match the previous entry"


async def test_a_deleted_middle_entry_is_caught(no_triggers: Database) -> None:
    await append_many(no_triggers, 5)
    await execute(no_triggers, "DELETE FROM audit_log WHERE seq = 2")
    report = await run_verify(no_triggers)
    assert (report.ok, report.bad_seq, report.entries) == (False, 2, 1)
    assert report.reason == "entry 2 is missing"


async def test_a_deleted_last_entry_is_caught_by_the_head(no_triggers: Database) -> None:
    await append_many(no_triggers, 5)
    await execute(no_triggers, "DELETE FROM audit_log WHERE seq = 5")
    report = await run_verify(no_triggers)
    assert (report.ok, report.bad_seq, report.entries) == (False, 5, 4)
    assert report.reason is not None
    assert "head says 5 entries, the log has 4" in report.reason


async def test_a_rewritten_head_hash_is_caught(db: Database) -> None:
    await append_many(db, 3)
    await execute(db, "UPDATE audit_head SET hash = :forged", forged="f" * 64)
    report = await run_verify(db)
    assert (report.ok, report.bad_seq) == (False, 3)


async def test_a_rewound_head_is_caught(db: Database) -> None:
    """Rewinding the head past a rewritten tail does not hide it: the entries after it are found."""
    entries = await append_many(db, 4)
    async with db.transaction() as session:
        head = (await session.execute(select(AuditHead))).scalar_one()
        head.seq, head.hash = 2, entries[1].hash
    report = await run_verify(db)
    assert (report.ok, report.bad_seq, report.entries) == (False, 3, 2)
    assert report.reason == "entries after 2 are not covered by the head"


class AppendingSession(AsyncSession):
    """A session that lets another connection commit an append after each of its statements: the
    interleaving of a live system, made deterministic."""

    writer: Database

    async def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        result = await super().execute(statement, *args, **kwargs)
        async with self.writer.transaction() as session:
            await append(session, replace(EVENT, request_id="live"))
        return result


async def test_verify_while_appends_commit_in_between(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Appends committed during a verification (``nsl audit verify`` on a live system) are no break."""
    if db.is_sqlite:
        pytest.skip(
            "SQLite runs the verification in one BEGIN IMMEDIATE transaction: no append can interleave"
        )
    monkeypatch.setattr(chain, "VERIFY_BATCH", 3)  # several round trips, each followed by an append
    await append_many(db, 7)
    writer = Database(db.url)
    try:
        async with AppendingSession(db.engine) as session:
            session.writer = writer
            report = await verify(session)
    finally:
        await writer.dispose()
    assert report.ok, report
    assert report.entries == 7
    final = await run_verify(db)
    assert final.ok
    assert final.entries > 7


FIELDS_AND_CHANGES = [
    ("seq", 99),
    ("account_id", "acc_2"),
    ("actor", "api_key:key_9"),
    ("action", "api_keys.revoke"),
    ("resource", "/v1/other"),
    ("outcome", "denied"),
    ("status_code", 403),
    ("request_id", "req_9"),
    ("details", {"key_id": "key_3"}),
    ("prev_hash", "1" * 64),
]


@pytest.mark.parametrize(("field", "value"), FIELDS_AND_CHANGES, ids=[f for f, _ in FIELDS_AND_CHANGES])
async def test_the_hash_covers_every_field(db: Database, field: str, value: object) -> None:
    async with db.transaction() as session:
        entry = await append(session, EVENT)
    original = entry_hash(entry)
    setattr(entry, field, value)
    assert entry_hash(entry) != original


async def test_the_hash_covers_the_timestamp(db: Database) -> None:
    async with db.transaction() as session:
        entry = await append(session, EVENT)
    original = entry_hash(entry)
    entry.created_at = entry.created_at + timedelta(microseconds=1)
    assert entry_hash(entry) != original


async def test_a_reordered_log_is_caught(no_triggers: Database) -> None:
    await append_many(no_triggers, 3)
    async with no_triggers.transaction() as session:
        await session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(seq=100))
        await session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(seq=2))
        await session.execute(update(AuditEntry).where(AuditEntry.seq == 100).values(seq=3))
    report = await run_verify(no_triggers)
    assert (report.ok, report.bad_seq) == (False, 2)


REDACT_TABLE: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"key_id": "k", "role": "owner"}, {"key_id": "k", "role": "owner"}),
    (
        {"secret": "s", "Password": "p", "TOKEN": "t"},
        {"secret": REDACTED, "Password": REDACTED, "TOKEN": REDACTED},
    ),
    (
        {"client_secret": "s", "access_token": "t", "signing_private_key": "k"},
        dict.fromkeys(("client_secret", "access_token", "signing_private_key"), REDACTED),
    ),
    ({"api_key": "nsl_x", "api_key_id": "key_1"}, {"api_key": REDACTED, "api_key_id": "key_1"}),
    ({"value": "v", "values": ["a"]}, {"value": REDACTED, "values": ["a"]}),
    ({"outer": {"inner": {"plaintext": "p", "n": 1}}}, {"outer": {"inner": {"plaintext": REDACTED, "n": 1}}}),
    (
        {"items": [{"passphrase": "p"}, "x", [{"authorization": "Bearer x"}]]},
        {"items": [{"passphrase": REDACTED}, "x", [{"authorization": REDACTED}]]},
    ),
    ({"ttl_seconds": 60, "tokens": 3}, {"ttl_seconds": 60, "tokens": 3}),
    ({}, {}),
]


@pytest.mark.parametrize(
    ("details", "expected"),
    REDACT_TABLE,
    ids=[
        "nothing-sensitive",
        "exact-names-any-case",
        "compound-names",
        "api-key-but-not-its-id",
        "value-but-not-values",
        "nested-dicts",
        "inside-lists",
        "similar-but-harmless",
        "empty",
    ],
)
def test_redact(details: dict[str, Any], expected: dict[str, Any]) -> None:
    original = repr(details)
    assert redact(details) == expected
    assert repr(details) == original  # a copy: the caller's dict is untouched


@pytest.mark.parametrize(
    "details",
    [
        {},
        {"b": 1, "a": 2},
        {"name": "café ☕", "sep": "\u2028\u2029", "ctl": "\x00\x1f\x7f", "quote": '"\\/'},
        {"nested": {"z": [1, 2.5, None, True], "a": {"y": "x"}}, "big": 2**70, "neg": -0.0},
    ],
)
def test_canonical_body_is_the_documented_json(details: dict[str, Any]) -> None:
    """The chain hashes of entries already written depend on these exact bytes: sorted keys, no
    whitespace, non-ASCII kept, as ``json.dumps`` with those options writes them."""
    created_at = utcnow()
    fields: dict[str, Any] = {
        "seq": 7,
        "account_id": "acc_1",
        "created_at": created_at,
        "actor": "key:k",
        "action": "account.get",
        "resource": "/v1/account",
        "outcome": "success",
        "status_code": 200,
        "request_id": "req_1",
        "details": details,
    }
    expected = json.dumps(
        {**fields, "created_at": created_at.isoformat(timespec="microseconds")},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert chain.canonical_body(fields) == expected


@pytest.mark.parametrize(
    "event",
    [
        EVENT,
        replace(EVENT, account_id=None, details=None),
        replace(EVENT, details={"seq": 0, "status_code": 1, "created_at": "x", "z": [1, 2.5, None]}),
        replace(EVENT, actor='key:"q"\\', resource="/v1/é/\u2028", request_id="", status_code=599),
        replace(EVENT, action="a" * 200, details={"name": "café ☕", "ctl": "\x00\x1f", "big": 2**70}),
    ],
    ids=["plain", "no-account", "body-keys-in-details", "escapes", "long-and-odd"],
)
def test_body_parts_join_into_the_canonical_body(event: chain.AuditEvent) -> None:
    """What nsl_audit_append (migration 0015) concatenates around the time and the number is exactly
    what the verifier hashes."""
    (row,) = chain.chain_rows(122, GENESIS_HASH, [event])  # the row the locked append writes
    head, mid, tail = chain.body_parts(event, row["details"])
    stamp = row["created_at"].isoformat(timespec="microseconds")
    assert head + stamp + mid + str(row["seq"]) + tail == chain.canonical_body(row)

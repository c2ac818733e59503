"""Append-only, hash-chained audit log.

Each entry's hash is SHA-256 over the previous entry's hash and a canonical JSON encoding of the
entry (sorted keys, no whitespace, UTC ISO-8601 timestamps), the construction of Certificate
Transparency-style logs without the tree. The head row (last seq and hash) is updated in the same
transaction, so deleting the newest entries is caught too. Appends are serialized by a row lock
on the head (PostgreSQL) or by SQLite's single writer (BEGIN IMMEDIATE); ``append_batch`` takes
that lock once for many entries (the group commit of ``writer``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import AuditEntry, AuditHead, Outcome
from neo_service_layer.enclave.opdefs.audit import GENESIS_HASH as GENESIS_HASH

HEAD_ID = 1
# The tables themselves (Core): an append is on every request's path, and Core statements skip the ORM's
# unit of work (flush, identity map, loading), which cost more than the statements.
_LOG = AuditEntry.metadata.tables[AuditEntry.__tablename__]
_HEAD = AuditHead.metadata.tables[AuditHead.__tablename__]
_LOCK_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID).with_for_update()
_INSERT_ENTRIES = insert(_LOG)
_MOVE_HEAD = update(_HEAD).where(_HEAD.c.id == HEAD_ID)
VERIFY_BATCH = 1000
REDACTED = "[redacted]"
# Field names whose values are never written to the audit log, whatever a caller passes: these names,
# names ending in ``_<name>`` (``signing_private_key``), and names with one of SENSITIVE_WORDS as a
# word (``client_secret``, ``access_token``).
SENSITIVE_FIELDS = frozenset(
    {
        "secret",
        "password",
        "passphrase",
        "private_key",
        "plaintext",
        "token",
        "api_key",
        "value",
        "key_material",
    }
)
SENSITIVE_WORDS = frozenset({"secret", "password", "passphrase", "token", "plaintext", "authorization"})
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What happened, by whom, to what, with which outcome."""

    actor: str
    action: str
    resource: str
    outcome: Outcome
    status_code: int
    request_id: str
    account_id: str | None = None
    details: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Result of walking the chain: ``ok`` or the first sequence number that does not verify."""

    ok: bool
    entries: int
    bad_seq: int | None = None
    reason: str | None = None


def is_sensitive(name: str) -> bool:
    """Whether a field called ``name`` may hold a secret value."""
    lowered = name.lower()
    if lowered in SENSITIVE_FIELDS or any(lowered.endswith(f"_{field}") for field in SENSITIVE_FIELDS):
        return True
    return not SENSITIVE_WORDS.isdisjoint(_WORD_SPLIT.split(lowered))


def redact(details: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``details`` with sensitive fields (at any depth, lists included) replaced by a marker."""
    return {
        name: REDACTED if is_sensitive(str(name)) else _redact_value(value) for name, value in details.items()
    }


def _redact_value(value: Any) -> Any:
    if isinstance(value, dict):
        return redact(value)
    if isinstance(value, list | tuple):
        return [_redact_value(item) for item in value]
    return value


# What an entry's chain hash covers, besides the previous entry's hash.
_BODY_FIELDS = (
    "seq",
    "account_id",
    "created_at",
    "actor",
    "action",
    "resource",
    "outcome",
    "status_code",
    "request_id",
    "details",
)


# What json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False) uses, made once: dumps
# builds an encoder per call when given options (a third of the call's time, on every audit entry).
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_body(fields: Mapping[str, Any]) -> str:
    """The canonical JSON of an entry's fields without its hashes (sorted keys, no whitespace, UTC
    ISO-8601 time): what its chain hash covers after ``prev_hash``."""
    body = {name: fields[name] for name in _BODY_FIELDS}
    body["created_at"] = body["created_at"].isoformat(timespec="microseconds")
    return _CANONICAL_JSON.encode(body)


def body_parts(event: AuditEvent, details: dict[str, Any]) -> tuple[str, str, str]:
    """The :func:`canonical_body` of ``event``'s entry in three parts around the two values known only
    under the head lock, its time and its number: ``head + time + mid + str(seq) + tail``, where time is
    the ISO-8601 of :func:`canonical_body`. For an appender that takes the lock in the database
    (``pg_batch``); ``details`` as written (redacted)."""
    # The body's keys in sorted order: account_id, action, actor | created_at | details, outcome,
    # request_id, resource | seq | status_code.
    before = _CANONICAL_JSON.encode(
        {"account_id": event.account_id, "action": event.action, "actor": event.actor}
    )
    after = _CANONICAL_JSON.encode(
        {
            "details": details,
            "outcome": event.outcome,
            "request_id": event.request_id,
            "resource": event.resource,
        }
    )
    tail = f',"status_code":{_CANONICAL_JSON.encode(event.status_code)}}}'
    return before[:-1] + ',"created_at":"', '",' + after[1:-1] + ',"seq":', tail


def entry_body(entry: AuditEntry) -> str:
    """:func:`canonical_body` of a stored entry."""
    return canonical_body({name: getattr(entry, name) for name in _BODY_FIELDS})


def chain_hash(prev_hash: str, body: str) -> str:
    """SHA-256 of the previous entry's hash and this entry's canonical body."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + body.encode()).hexdigest()


def entry_hash(entry: AuditEntry) -> str:
    """The chain hash of ``entry``: SHA-256 of its ``prev_hash`` and its :func:`entry_body`."""
    return chain_hash(entry.prev_hash, entry_body(entry))


def list_statement(account_id: str, *, action: str | None, outcome: Outcome | None) -> Select[AuditEntry]:
    """The entries about ``account_id``, optionally of one action or outcome.

    The log is one chain across accounts, not tenant-owned rows, so the account filter is explicit here.
    """
    statement = select(AuditEntry).where(AuditEntry.account_id == account_id)
    if action is not None:
        statement = statement.where(AuditEntry.action == action)
    if outcome is not None:
        statement = statement.where(AuditEntry.outcome == outcome)
    return statement


async def append(session: AsyncSession, event: AuditEvent) -> AuditEntry:
    """Append ``event`` in the caller's transaction; it commits or rolls back with the caller's change.

    Returns the entry as written (not in the session); :func:`append_batch` returns rows instead."""
    (row,) = await append_batch(session, [event])
    return AuditEntry(**row)


async def append_batch(session: AsyncSession, events: Sequence[AuditEvent]) -> list[dict[str, Any]]:
    """Append ``events`` in order, in the caller's transaction: one head lock and update for all.

    Chaining N entries costs one head read, one INSERT (of N rows) and one head UPDATE instead of N
    of each; the entries are exactly those N calls of :func:`append` would have written. Returns the
    rows written, as column -> value.
    """
    # Straight on the session's connection (same transaction): Core statements gain nothing from the
    # ORM's execute path (its events, its tenant criteria, which the log is not subject to). One
    # run_sync for the three statements: each async execute is a greenlet of its own.
    return await session.run_sync(lambda sync: append_rows(sync.connection(), events))


def append_rows(connection: Connection, events: Sequence[AuditEvent]) -> list[dict[str, Any]]:
    """:func:`append_batch` on a (sync) Core connection in a transaction, within SQLAlchemy's greenlet
    (``run_sync``): the group-commit writer's path, which needs no session."""
    if not events:
        return []
    seq, prev_hash = connection.execute(_LOCK_HEAD).one()
    rows = chain_rows(seq, prev_hash, events)
    connection.execute(_INSERT_ENTRIES, rows)
    connection.execute(_MOVE_HEAD, {"seq": rows[-1]["seq"], "hash": rows[-1]["hash"]})
    return rows


def chain_rows(seq: int, prev_hash: str, events: Sequence[AuditEvent]) -> list[dict[str, Any]]:
    """The rows (column -> value) that chain ``events`` after the head ``(seq, prev_hash)``, in order."""
    # Rows are plain dicts, not AuditEntry objects: building an instrumented object cost a third of an
    # append.
    rows = []
    for event in events:
        seq += 1
        row: dict[str, Any] = {
            "seq": seq,
            "account_id": event.account_id,
            "created_at": utcnow(),
            "actor": event.actor,
            "action": event.action,
            "resource": event.resource,
            "outcome": event.outcome,
            "status_code": event.status_code,
            "request_id": event.request_id,
            "details": redact(event.details or {}),
            "prev_hash": prev_hash,
        }
        row["hash"] = prev_hash = chain_hash(prev_hash, canonical_body(row))
        rows.append(row)
    return rows


async def verify(session: AsyncSession) -> VerifyReport:
    """Walk the whole chain and report the first entry that was edited, deleted or reordered.

    The head is read first and the walk stops at its ``seq``, so that entries appended meanwhile
    (each append moves the head in the same transaction) do not look like a break. Entries beyond the
    head are a break only if the head, read again afterwards, still does not cover them: a head
    rewound to hide a rewritten tail.
    """
    head = (await session.execute(select(AuditHead).where(AuditHead.id == HEAD_ID))).scalar_one()
    head_seq, head_hash = head.seq, head.hash
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    while expected_seq <= head_seq:
        batch = (
            (
                await session.execute(
                    select(AuditEntry)
                    .where(AuditEntry.seq >= expected_seq, AuditEntry.seq <= head_seq)
                    .order_by(AuditEntry.seq)
                    .limit(VERIFY_BATCH)
                )
            )
            .scalars()
            .all()
        )
        for entry in batch:
            if entry.seq != expected_seq:
                return VerifyReport(False, count, expected_seq, f"entry {expected_seq} is missing")
            if entry.prev_hash != prev_hash:
                return VerifyReport(False, count, entry.seq, "prev_hash does not match the previous entry")
            if entry_hash(entry) != entry.hash:
                return VerifyReport(False, count, entry.seq, "entry content does not match its hash")
            prev_hash, expected_seq, count = entry.hash, expected_seq + 1, count + 1
        if len(batch) < VERIFY_BATCH:
            break
    if count != head_seq:
        reason = f"entry {count + 1} is missing: head says {head_seq} entries, the log has {count}"
        return VerifyReport(False, count, count + 1, reason)
    if prev_hash != head_hash:
        return VerifyReport(False, count, head_seq, "the last entry's hash does not match the head")
    last_seq = (await session.execute(select(func.max(AuditEntry.seq)))).scalar_one()
    if last_seq is not None and last_seq > head_seq:
        # Read after last_seq: an append that committed before that read has moved the head by now.
        covered = (await session.execute(select(AuditHead.seq).where(AuditHead.id == HEAD_ID))).scalar_one()
        if covered < last_seq:
            reason = f"entries after {covered} are not covered by the head"
            return VerifyReport(False, count, covered + 1, reason)
    return VerifyReport(True, count)

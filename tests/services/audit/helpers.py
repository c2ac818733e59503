"""Writing audit entries, and tampering with the log as a database writer would."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.db.models import AuditEntry, AuditHead, Outcome
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.attestation import build_report
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.identity import Identity
from neo_service_layer.enclave.sealing import Sealer
from neo_service_layer.enclave.tee.software import SoftwareBackend
from neo_service_layer.services.audit.chain import HEAD_ID, AuditEvent, append_batch, entry_hash

EVENT = AuditEvent(
    actor="api_key:key_1",
    action="api_keys.create",
    resource="/v1/api-keys",
    outcome=Outcome.SUCCESS,
    status_code=201,
    request_id="req_1",
    account_id="acc_1",
    details={"key_id": "key_2"},
)
_SQLITE_TRIGGERS = (
    "audit_log_no_update",
    "audit_log_no_delete",
    "audit_checkpoints_no_update",
    "audit_checkpoints_no_delete",
)


async def append_entries(db: Database, count: int) -> None:
    async with db.transaction() as session:
        first = (await session.execute(select(AuditHead.seq))).scalar_one() + 1
        events = [replace(EVENT, request_id=f"req_{seq}") for seq in range(first, first + count)]
        await append_batch(session, events)


@asynccontextmanager
async def tampering(db: Database) -> AsyncIterator[AsyncSession]:
    """A transaction that the append-only triggers do not stop: a database superuser's.

    PostgreSQL: ``session_replication_role = replica`` skips triggers for this transaction; SQLite
    (a file the attacker can write): the triggers are dropped.
    """
    if db.is_sqlite:
        async with db.engine.begin() as conn:
            for trigger in _SQLITE_TRIGGERS:
                await conn.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
    async with db.transaction() as session:
        if not db.is_sqlite:
            await session.execute(text("SET LOCAL session_replication_role = replica"))
        yield session


async def tamper(db: Database, *statements: str, **params: Any) -> None:
    async with tampering(db) as session:
        for statement in statements:
            await session.execute(text(statement), params)


async def rewrite(db: Database, seq: int, **changes: Any) -> None:
    """Edit entry ``seq`` and recompute every hash after it and the head: the chain verifies again."""
    async with tampering(db) as session:
        entries = (
            await session.execute(select(AuditEntry).where(AuditEntry.seq >= seq).order_by(AuditEntry.seq))
        ).scalars()
        prev_hash = ""
        for entry in entries:
            if entry.seq == seq:
                for name, value in changes.items():
                    setattr(entry, name, value)
            else:
                entry.prev_hash = prev_hash
            prev_hash = entry.hash = entry_hash(entry)
        head = (await session.execute(select(AuditHead))).scalar_one()
        head.hash = prev_hash


async def truncate(db: Database, keep: int) -> None:
    """Delete every entry after ``keep`` and move the head back to it: the chain verifies again."""
    async with tampering(db) as session:
        await session.execute(text("DELETE FROM audit_log WHERE seq > :keep"), {"keep": keep})
        kept = (await session.execute(select(AuditEntry.hash).where(AuditEntry.seq == keep))).scalar_one()
        await session.execute(
            text("UPDATE audit_head SET seq = :keep, hash = :hash"), {"keep": keep, "hash": kept}
        )


def other_enclave() -> EnclaveContext:
    """Another enclave: its own identity, as a writer who runs one of their own would have."""
    identity = Identity.generate()
    backend = SoftwareBackend()
    report = build_report(identity, backend, "00" * 32)
    return EnclaveContext(identity=identity, sealer=Sealer(os.urandom(32)), backend=backend, report=report)


@asynccontextmanager
async def without_audit_head(db: Database) -> AsyncIterator[None]:
    """The chain head row deleted for the block, put back after: a batch cannot chain, so its
    transaction fails before anything commits."""
    async with db.transaction() as session:
        head = (await session.execute(select(AuditHead))).scalar_one()
        saved = (head.seq, head.hash)
        await session.execute(delete(AuditHead))
    try:
        yield
    finally:
        async with db.transaction() as session:
            session.add(AuditHead(id=HEAD_ID, seq=saved[0], hash=saved[1]))

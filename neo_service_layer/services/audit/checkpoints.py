"""Checkpoints of the audit chain signed by the enclave: when to make one, making it, exporting them.

The chain of ``chain.py`` catches an edited or deleted entry, but not a database writer who rewrites
an entry and recomputes every hash after it, or who truncates the tail and moves the head: the head
lives in the same database. A checkpoint is the enclave's signature over the head (``audit.checkpoint``,
``enclave/handlers/audit.py``): the writer cannot make one, so ``verification.py`` finds any entry a
checkpoint covers that was changed or removed since. Checkpoints chain among themselves (each names
the one it extends, and the enclave only extends its own), and are stored append-only in
``audit_checkpoints``; an export (JSON lines, one signed envelope each) kept off the box catches a
writer who deletes the stored ones too. What they prove and what not: docs/audit.md.

A checkpoint is made when ``every_entries`` entries follow the last one, or when the last one is
``interval`` old and at least one entry follows it (``checkpoint_due``), by the worker's
``audit.checkpoint`` job, or at once by ``nsl audit checkpoint``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.config import Settings
from neo_service_layer.db.models import AuditCheckpoint, AuditEntry, AuditHead
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import EnclaveClient
from neo_service_layer.enclave.opdefs.audit import (
    CHECKPOINT,
    MAX_CHECKPOINT_ENTRIES,
    CheckpointArgs,
    CheckpointResult,
)
from neo_service_layer.enclave.schemas import SignedResult
from neo_service_layer.errors import EnclaveCryptoFailed
from neo_service_layer.services.audit.chain import HEAD_ID, entry_body
from neo_service_layer.services.audit.errors import AuditCheckpointRefused, AuditCheckpointsInvalid

#: Entry bodies per enclave call, in JSON-encoded bytes: half the protocol's 8 MiB frame.
MAX_CHECKPOINT_BATCH_BYTES: Final = 4 * 1024 * 1024
EXPORT_BATCH: Final = 500


@dataclass(frozen=True, slots=True)
class CheckpointPolicy:
    """When a checkpoint is due (module docs)."""

    every_entries: int
    interval: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> CheckpointPolicy:
        return cls(
            every_entries=settings.audit.checkpoint_every_entries,
            interval=timedelta(seconds=settings.audit.checkpoint_interval_seconds),
        )


@dataclass(frozen=True, slots=True)
class ChainState:
    """The log's head and its latest checkpoint, as the scheduling decision needs them."""

    head_seq: int
    checkpoint_seq: int  # 0 when there is no checkpoint
    checkpoint_time: datetime | None  # the enclave's time of the latest checkpoint

    @property
    def pending(self) -> int:
        """Entries after the latest checkpoint."""
        return self.head_seq - self.checkpoint_seq


def checkpoint_due(state: ChainState, policy: CheckpointPolicy, now: datetime) -> bool:
    """Whether a checkpoint is due at ``now``: never with nothing to cover; at once for the first."""
    if state.pending <= 0:
        return False
    if state.pending >= policy.every_entries or state.checkpoint_time is None:
        return True
    return now - state.checkpoint_time >= policy.interval


async def chain_state(db: Database) -> ChainState:
    async with db.session(for_read=True) as session:
        head_seq = (await session.execute(select(AuditHead.seq).where(AuditHead.id == HEAD_ID))).scalar_one()
        latest = await _latest(session)
    if latest is None:
        return ChainState(head_seq, 0, None)
    return ChainState(head_seq, latest.seq, latest.signed_at)


async def checkpoint_if_due(
    db: Database, enclave: EnclaveClient, policy: CheckpointPolicy, now: datetime
) -> list[AuditCheckpoint]:
    """Checkpoint the log up to its head if :func:`checkpoint_due`; the checkpoints made."""
    if not checkpoint_due(await chain_state(db), policy, now):
        return []
    return await create_checkpoints(db, enclave)


async def create_checkpoints(
    db: Database, enclave: EnclaveClient, *, max_entries: int = MAX_CHECKPOINT_ENTRIES
) -> list[AuditCheckpoint]:
    """Checkpoint the log up to its current head: one checkpoint per ``max_entries`` entries (or per
    :data:`MAX_CHECKPOINT_BATCH_BYTES`) after the latest one; none if nothing follows it.

    :class:`AuditCheckpointRefused` when the enclave will not sign (an entry after the latest checkpoint
    is missing, or that checkpoint is not the enclave's own) or when the head it signs is not the stored
    chain's (the chain was recomputed under the checkpoint): the log or the checkpoints were tampered
    with, or the enclave's identity changed; nothing is stored then. A checkpoint stored meanwhile by
    someone else (the worker's job and ``nsl audit checkpoint`` at once) is extended instead.
    """
    if not 1 <= max_entries <= MAX_CHECKPOINT_ENTRIES:
        raise ValueError(f"max_entries must be within 1..{MAX_CHECKPOINT_ENTRIES}")
    created: list[AuditCheckpoint] = []
    while (stretch := await _next_stretch(db, max_entries)) is not None:
        latest, entries = stretch
        bodies = _batch([entry_body(entry) for entry in entries])
        # No session is open across the enclave call: on SQLite a process has one connection.
        row = await _sign(enclave, latest, bodies)
        if row.hash != entries[len(bodies) - 1].hash:
            # The enclave chained the entries from the checkpoint's own hash; the stored chain does not
            # reach the same head, so it no longer extends the checkpoint: it was rewritten under it.
            raise AuditCheckpointRefused(
                f"the stored chain at entry {row.seq} does not extend the checkpoint at entry "
                f"{row.seq - len(bodies)}: the log was rewritten (nsl audit verify)"
            )
        try:
            async with db.transaction() as session:
                session.add(row)
        except IntegrityError:
            # Another writer stored a checkpoint extending the same one: go on from theirs, if it exists.
            async with db.session(for_read=True) as session:
                now_latest = await _latest(session)
            if now_latest is None or now_latest.seq <= (latest.seq if latest is not None else 0):
                raise AuditCheckpointRefused(
                    "a stored checkpoint conflicts with the new one but extends no further"
                ) from None
            continue
        created.append(row)
    return created


async def _next_stretch(
    db: Database, max_entries: int
) -> tuple[AuditCheckpoint | None, list[AuditEntry]] | None:
    """The latest checkpoint and the (at most ``max_entries``) entries after it; None if none follow."""
    async with db.session(for_read=True) as session:
        latest = await _latest(session)
        head_seq = (await session.execute(select(AuditHead.seq).where(AuditHead.id == HEAD_ID))).scalar_one()
        start = (latest.seq if latest is not None else 0) + 1
        if start > head_seq:
            return None
        last = min(head_seq, start + max_entries - 1)
        query = select(AuditEntry).where(AuditEntry.seq.between(start, last)).order_by(AuditEntry.seq)
        entries = list((await session.execute(query)).scalars())
    if not entries or entries[0].seq != start:  # the enclave would refuse the stretch anyway
        raise AuditCheckpointRefused(f"audit entry {start} is missing: the log cannot be checkpointed")
    return latest, entries


async def _sign(enclave: EnclaveClient, latest: AuditCheckpoint | None, bodies: list[str]) -> AuditCheckpoint:
    previous = None
    if latest is not None:
        try:
            previous = SignedResult.model_validate(latest.envelope)
        except ValidationError as exc:
            raise AuditCheckpointRefused(f"stored checkpoint {latest.seq} is not a signed envelope") from exc
    try:
        signed = await enclave.run(CHECKPOINT, CheckpointArgs(previous=previous, entries=bodies))
    except EnclaveCryptoFailed as exc:
        raise AuditCheckpointRefused(f"the enclave refused to checkpoint the log: {exc.detail}") from exc
    checkpoint = signed.result
    return AuditCheckpoint(
        seq=checkpoint.seq,
        hash=checkpoint.hash,
        checkpoint_hash=signed.envelope.result_hash,
        prev_checkpoint=checkpoint.prev_checkpoint,
        signed_at=signed_time(checkpoint),
        envelope=signed.envelope.model_dump(mode="json"),
    )


def _batch(bodies: list[str]) -> list[str]:
    """The longest prefix of ``bodies`` within :data:`MAX_CHECKPOINT_BATCH_BYTES` (at least one)."""
    size = 0
    for index, body in enumerate(bodies):
        size += len(json.dumps(body, ensure_ascii=False).encode())
        if size > MAX_CHECKPOINT_BATCH_BYTES and index > 0:
            return bodies[:index]
    return bodies


def signed_time(checkpoint: CheckpointResult) -> datetime:
    """The enclave's time of ``checkpoint`` as a UTC datetime."""
    return datetime.fromtimestamp(checkpoint.time_ms / 1000, UTC)


async def _latest(session: AsyncSession) -> AuditCheckpoint | None:
    query = select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
    return (await session.execute(query)).scalar_one_or_none()


async def stored_checkpoints(db: Database) -> AsyncIterator[AuditCheckpoint]:
    """Every stored checkpoint, oldest first, read in batches."""
    after = 0
    while True:
        async with db.session(for_read=True) as session:
            rows = list(
                (
                    await session.execute(
                        select(AuditCheckpoint)
                        .where(AuditCheckpoint.seq > after)
                        .order_by(AuditCheckpoint.seq)
                        .limit(EXPORT_BATCH)
                    )
                ).scalars()
            )
        for row in rows:
            yield row
        if len(rows) < EXPORT_BATCH:
            return
        after = rows[-1].seq


def export_line(envelope: dict[str, Any] | SignedResult) -> str:
    """One line of an export: the signed envelope as compact JSON (each line verifies on its own)."""
    data = envelope.model_dump(mode="json") if isinstance(envelope, SignedResult) else envelope
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parse_export(lines: Iterable[str]) -> list[SignedResult]:
    """The envelopes of an export (blank lines skipped); :class:`AuditCheckpointsInvalid` naming the line."""
    envelopes = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            envelopes.append(SignedResult.model_validate_json(line))
        except ValidationError as exc:
            raise AuditCheckpointsInvalid(
                f"line {number} is not a signed checkpoint envelope ({exc.error_count()} errors)"
            ) from exc
    return envelopes

"""Verification of the audit log against the enclave's signed checkpoints (docs/audit.md).

``verify_log`` walks the hash chain (``chain.verify``) and checks the checkpoints, stored and, when
given, exported ones (an off-box copy, ``nsl audit checkpoint --export``):

- each must be signed by the enclave identity as a checkpoint (``client.verify_result`` with the
  constant checkpoint request); a stored row's columns must repeat its signed envelope;
- together they must form one chain: each extends a checkpoint that is present (none was deleted in
  between) and no two extend the same one (no second history was signed);
- an exported checkpoint missing from the database was deleted from it;
- the log must still hold, at each checkpoint's ``seq``, an entry whose chain hash is the signed one.
  An entry row missing there means the log was truncated (the entries from the last one left up to the
  checkpoint are reported missing); another hash means an entry the checkpoint covers was changed,
  removed or inserted and the chain recomputed forward (reported between the nearest checkpoint that
  still matches and the first that does not).

The checkpoints are read before the chain is walked: a checkpoint made meanwhile on a live system
covers only entries that the walk then finds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from pydantic import ValidationError
from sqlalchemy import func, select

from neo_service_layer.client.attestation import VerifiedIdentity, verify_result
from neo_service_layer.db.models import AuditCheckpoint, AuditEntry
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.opdefs.audit import (
    CHECKPOINT_REQUEST,
    GENESIS_HASH,
    CheckpointResult,
)
from neo_service_layer.enclave.schemas import SignedResult
from neo_service_layer.errors import SignatureInvalid
from neo_service_layer.services.audit.chain import VerifyReport, verify
from neo_service_layer.services.audit.checkpoints import signed_time

LOOKUP_BATCH: Final = 500


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing that does not verify; ``first``..``last`` are the entries concerned, when known."""

    message: str
    first: int | None = None
    last: int | None = None


@dataclass(frozen=True, slots=True)
class LogReport:
    """The chain walk and what the checkpoints add to it."""

    chain: VerifyReport
    checkpoints: int  # signed checkpoints that verified
    latest: CheckpointResult | None  # the newest of them
    findings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.findings

    @property
    def unchecked(self) -> int:
        """Entries after the latest checkpoint: protected by the chain alone so far."""
        return max(0, self.chain.entries - (self.latest.seq if self.latest is not None else 0))


@dataclass(frozen=True, slots=True)
class _Verified:
    where: str
    result_hash: str
    checkpoint: CheckpointResult
    row: AuditCheckpoint | None  # None: from the export


async def verify_log(
    db: Database,
    identity: VerifiedIdentity | None,
    stored: Sequence[AuditCheckpoint],
    exported: Sequence[SignedResult] | None = None,
) -> LogReport:
    """Verify the log against ``stored`` (read beforehand) and ``exported`` checkpoints (module docs).

    ``identity`` may be None only when there is no checkpoint to check.
    """
    async with db.session() as session:
        chain = await verify(session)
    if not stored and not exported:
        return LogReport(chain, 0, None)
    if identity is None:
        raise ValueError("checkpoints are verified against an enclave identity")
    findings: list[Finding] = []
    verified = _verify_signatures(identity, stored, exported or (), findings)
    _check_rows(verified, findings)
    kept = {item.result_hash for item in verified if item.row is not None}
    findings.extend(
        Finding(f"{item.where} (entry {item.checkpoint.seq}) is not in the database: it was deleted")
        for item in verified
        if item.row is None and item.result_hash not in kept
    )
    unique = {item.result_hash: item for item in verified}
    _check_links(unique, findings)
    findings.extend(await _check_entries(db, sorted(unique.values(), key=lambda item: item.checkpoint.seq)))
    checkpoints = [item.checkpoint for item in unique.values()]
    latest = max(checkpoints, key=lambda checkpoint: (checkpoint.seq, checkpoint.time_ms), default=None)
    return LogReport(chain, len(checkpoints), latest, tuple(findings))


def _verify_signatures(
    identity: VerifiedIdentity,
    stored: Sequence[AuditCheckpoint],
    exported: Sequence[SignedResult],
    findings: list[Finding],
) -> list[_Verified]:
    candidates: list[tuple[str, object, AuditCheckpoint | None]] = [
        (f"stored checkpoint {row.seq}", row.envelope, row) for row in stored
    ]
    candidates += [
        (f"exported checkpoint {n}", envelope, None) for n, envelope in enumerate(exported, start=1)
    ]
    verified = []
    for where, envelope, row in candidates:
        try:
            signed = SignedResult.model_validate(envelope)
            checkpoint = CheckpointResult.model_validate(
                verify_result(signed, identity, request=CHECKPOINT_REQUEST)
            )
        except ValidationError:
            findings.append(Finding(f"{where} is not a signed checkpoint"))
            continue
        except SignatureInvalid as exc:
            findings.append(Finding(f"{where} is not signed by the enclave identity: {exc.detail}"))
            continue
        verified.append(_Verified(where, signed.result_hash, checkpoint, row))
    return verified


def _check_rows(verified: Sequence[_Verified], findings: list[Finding]) -> None:
    """A stored row's columns must say what its signed envelope says (the checkpoint job reads them)."""
    for item in verified:
        row, checkpoint = item.row, item.checkpoint
        signed = (checkpoint.seq, checkpoint.hash, item.result_hash, checkpoint.prev_checkpoint)
        if row is not None and (row.seq, row.hash, row.checkpoint_hash, row.prev_checkpoint) != signed:
            findings.append(Finding(f"{item.where}: its columns differ from its signed envelope"))


def _check_links(unique: dict[str, _Verified], findings: list[Finding]) -> None:
    """The checkpoints form one chain from the genesis: nothing deleted in between, nothing forked."""
    children: dict[str, list[int]] = defaultdict(list)
    for item in unique.values():
        checkpoint = item.checkpoint
        children[checkpoint.prev_checkpoint].append(checkpoint.seq)
        if checkpoint.prev_checkpoint != GENESIS_HASH and checkpoint.prev_checkpoint not in unique:
            findings.append(
                Finding(
                    f"checkpoint {checkpoint.seq} extends checkpoint {checkpoint.prev_seq}, "
                    "which is missing: it was deleted",
                    checkpoint.prev_seq,
                    checkpoint.prev_seq,
                )
            )
    for seqs in children.values():
        if len(seqs) > 1:
            listed = ", ".join(str(seq) for seq in sorted(seqs))
            findings.append(
                Finding(
                    f"checkpoints {listed} extend the same checkpoint: two histories of the log were signed"
                )
            )


async def _check_entries(db: Database, ordered: Sequence[_Verified]) -> list[Finding]:
    """Each checkpoint's entry is still in the log with the signed hash (module docs)."""
    seqs = sorted({item.checkpoint.seq for item in ordered})
    hashes: dict[int, str] = {}
    async with db.session(for_read=True) as session:
        for start in range(0, len(seqs), LOOKUP_BATCH):
            batch = seqs[start : start + LOOKUP_BATCH]
            rows = await session.execute(
                select(AuditEntry.seq, AuditEntry.hash).where(AuditEntry.seq.in_(batch))
            )
            hashes.update({seq: entry_hash for seq, entry_hash in rows})
        missing: list[tuple[int, int]] = []
        for seq in seqs:
            if seq not in hashes:
                below = await session.scalar(select(func.max(AuditEntry.seq)).where(AuditEntry.seq < seq))
                missing.append(((below or 0) + 1, seq))
    findings = [
        Finding(f"entries {first}..{last} are missing: a signed checkpoint covers entry {last}", first, last)
        for first, last in _merge(missing)
    ]
    present = [item.checkpoint for item in ordered if item.checkpoint.seq in hashes]
    matching = [checkpoint.seq for checkpoint in present if hashes[checkpoint.seq] == checkpoint.hash]
    differing = [checkpoint for checkpoint in present if hashes[checkpoint.seq] != checkpoint.hash]
    if differing:
        checkpoint = differing[0]
        # The change lies after the nearest checkpoint below that still matches.
        first = max((seq for seq in matching if seq < checkpoint.seq), default=0) + 1
        message = (
            f"entries {first}..{checkpoint.seq} differ from checkpoint {checkpoint.seq} signed at "
            f"{signed_time(checkpoint).isoformat()}: one of them was changed, removed or inserted"
        )
        if len(differing) > 1:
            message += f" (and {len(differing) - 1} more checkpoints do not match either)"
        findings.append(Finding(message, first, checkpoint.seq))
    return findings


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(last, merged[-1][1]))
        else:
            merged.append((first, last))
    return merged

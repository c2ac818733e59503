"""The audit log against its signed checkpoints: what a database writer does, and what verification says.

Every attack runs as a database superuser would (``helpers.tampering``: triggers off) and leaves a chain
that ``chain.verify`` alone accepts; the checkpoints must not. The log has entries 1..10, checkpoints
at 4 and 8, and entries 9 and 10 after the last checkpoint.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from neo_service_layer.client import VerifiedIdentity, verify_attestation
from neo_service_layer.db.models import AuditCheckpoint
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.opdefs.audit import CHECKPOINT, CheckpointArgs, CheckpointResult
from neo_service_layer.enclave.ops import sign_result
from neo_service_layer.enclave.schemas import SignedResult
from neo_service_layer.services.audit.checkpoints import create_checkpoints, stored_checkpoints
from neo_service_layer.services.audit.verification import LogReport, verify_log
from tests.services.audit.helpers import append_entries, other_enclave, rewrite, tamper, tampering, truncate


async def stored(db: Database) -> list[AuditCheckpoint]:
    return [row async for row in stored_checkpoints(db)]


async def run_verify(
    db: Database, identity: VerifiedIdentity, exported: list[SignedResult] | None = None
) -> LogReport:
    return await verify_log(db, identity, await stored(db), exported)


def messages(report: LogReport) -> list[str]:
    return [finding.message for finding in report.findings]


@pytest.fixture
async def log(db: Database, enclave: UnixEnclaveClient) -> Database:
    await append_entries(db, 8)
    assert [row.seq for row in await create_checkpoints(db, enclave, max_entries=4)] == [4, 8]
    await append_entries(db, 2)
    return db


async def test_an_intact_log_verifies(log: Database, identity: VerifiedIdentity) -> None:
    report = await run_verify(log, identity)
    assert report.ok, report.findings
    assert (report.chain.entries, report.checkpoints, report.unchecked) == (10, 2, 2)
    assert report.latest is not None
    assert report.latest.seq == 8


async def test_an_empty_log_has_nothing_to_check(db: Database) -> None:
    report = await verify_log(db, None, [])
    assert report.ok
    assert (report.chain.entries, report.checkpoints, report.latest) == (0, 0, None)


async def test_a_truncated_log_with_a_moved_head_is_caught(log: Database, identity: VerifiedIdentity) -> None:
    await truncate(log, keep=5)
    report = await run_verify(log, identity)
    assert report.chain.ok  # the chain alone: 5 entries, head matches
    assert not report.ok
    (finding,) = report.findings
    assert (finding.first, finding.last) == (6, 8)
    assert finding.message == "entries 6..8 are missing: a signed checkpoint covers entry 8"


async def test_a_truncated_log_refilled_with_new_entries_is_caught(
    log: Database, identity: VerifiedIdentity
) -> None:
    """Truncated to 3, then 7 new entries appended: the log is as long as before, its hashes are not."""
    await truncate(log, keep=3)
    await append_entries(log, 7)
    report = await run_verify(log, identity)
    assert report.chain.ok
    (finding,) = report.findings
    assert (finding.first, finding.last) == (1, 4)
    assert "differ from checkpoint 4" in finding.message
    assert "(and 1 more checkpoints do not match either)" in finding.message


@pytest.mark.parametrize(
    ("edited", "first", "last"), [(3, 1, 4), (6, 5, 8)], ids=["below-first", "below-second"]
)
async def test_an_edited_entry_with_the_chain_recomputed_is_caught(
    log: Database, identity: VerifiedIdentity, edited: int, first: int, last: int
) -> None:
    await rewrite(log, edited, details={"key_id": "forged"}, outcome="denied")
    report = await run_verify(log, identity)
    assert report.chain.ok, report.chain  # every hash was recomputed, head included
    assert not report.ok
    (finding,) = report.findings
    assert (finding.first, finding.last) == (first, last)
    assert finding.message.startswith(f"entries {first}..{last} differ from checkpoint {last} signed at ")


async def test_an_edit_after_the_last_checkpoint_is_the_chains_alone(
    log: Database, identity: VerifiedIdentity
) -> None:
    """What checkpoints do not cover: entries 9 and 10 rewritten and recomputed verify (docs/audit.md)."""
    await rewrite(log, 9, actor="someone else")
    report = await run_verify(log, identity)
    assert report.ok
    assert report.unchecked == 2


async def _forge_row(db: Database, kind: str, identity_of_other: EnclaveContext) -> None:
    """Tamper with the checkpoint rows as ``kind`` says (each leaves the stored chain well-formed)."""
    rows = await stored(db)
    last = rows[-1]
    async with tampering(db) as session:
        if kind == "bad-signature":
            envelope = dict(last.envelope, signatures={**last.envelope["signatures"], "p256": "11" * 64})
            await session.execute(
                update(AuditCheckpoint).where(AuditCheckpoint.seq == 8).values(envelope=envelope)
            )
        elif kind == "other-identity":
            # The writer's own "enclave" signs a checkpoint of its choice, extending the genuine one at 4.
            result = CheckpointResult.model_validate(last.envelope["result"]).model_copy(
                update={"hash": "ab" * 32}
            )
            forged = sign_result(
                identity_of_other, CHECKPOINT.name, CheckpointArgs(entries=["{}"]), result.model_dump()
            )
            await session.execute(
                update(AuditCheckpoint)
                .where(AuditCheckpoint.seq == 8)
                .values(
                    envelope=forged.model_dump(mode="json"),
                    hash="ab" * 32,
                    checkpoint_hash=forged.result_hash,
                )
            )
        elif kind == "edited-columns":
            await session.execute(
                update(AuditCheckpoint).where(AuditCheckpoint.seq == 8).values(hash="cd" * 32)
            )
        elif kind == "not-an-envelope":
            await session.execute(
                update(AuditCheckpoint).where(AuditCheckpoint.seq == 8).values(envelope={"seq": 8})
            )


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("bad-signature", "stored checkpoint 8 is not signed by the enclave identity: the P-256 signature"),
        ("other-identity", "stored checkpoint 8 is not signed by the enclave identity"),
        ("edited-columns", "stored checkpoint 8: its columns differ from its signed envelope"),
        ("not-an-envelope", "stored checkpoint 8 is not a signed checkpoint"),
    ],
    ids=lambda value: value if " " not in value else "",
)
async def test_a_forged_checkpoint_is_refused(
    log: Database, identity: VerifiedIdentity, kind: str, message: str
) -> None:
    await _forge_row(log, kind, other_enclave())
    report = await run_verify(log, identity)
    assert not report.ok
    assert any(found.startswith(message) for found in messages(report)), messages(report)


async def test_checkpoints_of_another_enclave_are_refused(log: Database) -> None:
    """``nsl audit verify --identity`` with another enclave's report: none of the checkpoints is its."""
    stranger = verify_attestation(other_enclave().report, allow_software=True)
    report = await run_verify(log, stranger)
    assert not report.ok
    assert messages(report) == [
        "stored checkpoint 4 is not signed by the enclave identity: the P-256 signature does not verify",
        "stored checkpoint 8 is not signed by the enclave identity: the P-256 signature does not verify",
    ]
    assert report.checkpoints == 0


async def test_a_deleted_middle_checkpoint_breaks_the_checkpoint_chain(
    log: Database, enclave: UnixEnclaveClient, identity: VerifiedIdentity
) -> None:
    await create_checkpoints(log, enclave)  # a third, at 10
    await tamper(log, "DELETE FROM audit_checkpoints WHERE seq = 8")
    report = await run_verify(log, identity)
    assert messages(report) == ["checkpoint 10 extends checkpoint 8, which is missing: it was deleted"]


async def test_deleted_checkpoints_are_caught_by_the_export(
    log: Database, identity: VerifiedIdentity
) -> None:
    """The writer truncates the log to 3 and deletes every checkpoint row: the database alone verifies (it
    has no checkpoint left to contradict it); the exported checkpoints kept off the box do not."""
    exported = [SignedResult.model_validate(row.envelope) for row in await stored(log)]
    await truncate(log, keep=3)
    await tamper(log, "DELETE FROM audit_checkpoints")
    alone = await run_verify(log, identity)
    assert (alone.ok, alone.checkpoints) == (True, 0)
    report = await run_verify(log, identity, exported)
    assert not report.ok
    assert messages(report) == [
        "exported checkpoint 1 (entry 4) is not in the database: it was deleted",
        "exported checkpoint 2 (entry 8) is not in the database: it was deleted",
        "entries 4..8 are missing: a signed checkpoint covers entry 8",
    ]


async def test_a_second_history_signed_after_deleting_a_checkpoint_is_caught_by_the_export(
    log: Database, enclave: UnixEnclaveClient, identity: VerifiedIdentity
) -> None:
    """The writer deletes checkpoint 8, rewrites entry 6 and has the enclave sign the new history from
    checkpoint 4 (the enclave cannot know 8 existed). The database verifies; the export shows the fork."""
    exported = [SignedResult.model_validate(row.envelope) for row in await stored(log)]
    await tamper(log, "DELETE FROM audit_checkpoints WHERE seq = 8")
    await rewrite(log, 6, details={"key_id": "forged"})
    await create_checkpoints(log, enclave, max_entries=4)
    assert (await run_verify(log, identity)).ok
    report = await run_verify(log, identity, exported)
    assert not report.ok
    found = messages(report)
    assert found[0] == "exported checkpoint 2 (entry 8) is not in the database: it was deleted"
    assert found[1] == "checkpoints 8, 8 extend the same checkpoint: two histories of the log were signed"
    assert found[2].startswith("entries 5..8 differ from checkpoint 8 signed at ")


async def test_an_export_of_the_intact_log_verifies(log: Database, identity: VerifiedIdentity) -> None:
    exported = [SignedResult.model_validate(row.envelope) for row in await stored(log)]
    report = await run_verify(log, identity, exported)
    assert report.ok, messages(report)
    assert report.checkpoints == 2


async def test_checkpoints_need_an_identity(log: Database) -> None:
    async with log.session() as session:
        rows = list((await session.execute(select(AuditCheckpoint))).scalars())
    with pytest.raises(ValueError, match="identity"):
        await verify_log(log, None, rows)

"""Audit checkpoints anchored on a real anvil gateway (docs/audit.md §5), with a real enclave and database.

The attacks are the ones the database alone cannot show: a writer who deletes the checkpoints and then
truncates the log, and one who re-signs a second history of the log (the enclave keeps no state, so a
host can ask it to checkpoint a rewritten log from the start). The chain's ``AuditAnchored`` logs, read
for the anchor key's address only, catch both; an anchor sent by anyone else is ignored.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from eth_typing import HexStr
from typer.testing import CliRunner

from neo_service_layer.chains.evm.gateway_rpc import GatewayRpc
from neo_service_layer.chains.evm.tx import transact
from neo_service_layer.cli.main import app as cli
from neo_service_layer.db.models import AuditCheckpoint
from neo_service_layer.services.audit.anchors import (
    EvmAnchor,
    anchor_findings,
    onchain_anchors,
    stored_anchorer,
)
from neo_service_layer.services.audit.checkpoints import create_checkpoints, stored_checkpoints
from neo_service_layer.worker.service_jobs import AUDIT_ANCHOR_KIND, service_tasks
from tests.chains.evm.fulfil_helpers import Platform, automine_off, fund, rpc
from tests.services.audit.helpers import append_entries, rewrite, tamper, truncate

runner = CliRunner()
RECEIPT_TIMEOUT_SECONDS = 30


def mined(platform: Platform, tx_hash: str | None) -> None:
    """Wait for the anchor's block: anvil automines, but the block can land a moment after the hash is
    returned (a loaded machine showed it), and a run before that would rightly say 'waiting'."""
    assert tx_hash is not None
    platform.nsl.w3.eth.wait_for_transaction_receipt(HexStr(tx_hash), timeout=RECEIPT_TIMEOUT_SECONDS)


async def anchored_log(platform: Platform, entries: int) -> tuple[EvmAnchor, list[AuditCheckpoint]]:
    """``entries`` audit entries checkpointed by the enclave, the newest checkpoint anchored (sent, then
    confirmed: anvil mines at once), and the anchor key funded."""
    await append_entries(platform.db, entries)
    await create_checkpoints(platform.db, platform.enclave)
    nsl = platform.nsl
    anchor = EvmAnchor(platform.db, platform.enclave, GatewayRpc(nsl.w3, nsl.gateway.address), nsl.chain_id)
    fund(nsl.w3, nsl, await anchor.anchorer())
    sent = await anchor.run()
    mined(platform, sent.tx_hash)
    confirmed = await anchor.run()
    assert (sent.action, confirmed.action, confirmed.tx_hash) == ("sent", "confirmed", sent.tx_hash)
    return anchor, [row async for row in stored_checkpoints(platform.db)]


async def test_the_newest_checkpoint_is_anchored_once(platform: Platform) -> None:
    anchor, _ = await anchored_log(platform, 5)
    assert (await anchor.run()).action == "nothing"  # anchored already
    await append_entries(platform.db, 3)
    await create_checkpoints(platform.db, platform.enclave)
    sent = await anchor.run()
    assert sent.action == "sent"
    mined(platform, sent.tx_hash)
    assert (await anchor.run()).action == "confirmed"

    found = onchain_anchors(anchor.rpc, await anchor.anchorer())
    latest = [row async for row in stored_checkpoints(platform.db)]
    assert [(a.seq, a.checkpoint_hash) for a in found] == [(row.seq, row.checkpoint_hash) for row in latest]
    assert [a.seq for a in found] == [5, 8]
    assert anchor_findings(found, latest) == []
    assert await stored_anchorer(platform.db, platform.nsl.chain_id) == await anchor.anchorer()


async def test_an_anchor_lost_by_the_node_is_broadcast_again(platform: Platform) -> None:
    anchor, _ = await anchored_log(platform, 2)
    await append_entries(platform.db, 2)
    await create_checkpoints(platform.db, platform.enclave)
    with automine_off(platform.nsl):
        sent = await anchor.run()
        rpc(platform.nsl, "anvil_dropTransaction", sent.tx_hash)
        assert (await anchor.run()).action == "waiting"  # unknown to the node: the recorded bytes again
        assert anchor.rpc.knows(str(sent.tx_hash))
        rpc(platform.nsl, "evm_mine")
    mined(platform, sent.tx_hash)
    assert (await anchor.run()).action == "confirmed"


async def test_deleted_checkpoints_and_a_truncated_log_are_caught_by_the_anchors(platform: Platform) -> None:
    anchor, _ = await anchored_log(platform, 6)
    await tamper(platform.db, "DELETE FROM audit_checkpoints")
    await truncate(platform.db, 3)

    stored = [row async for row in stored_checkpoints(platform.db)]
    findings = anchor_findings(onchain_anchors(anchor.rpc, await anchor.anchorer()), stored)

    assert stored == []
    (finding,) = findings
    assert finding.message.startswith("checkpoint at entry 6 anchored in block ")
    assert finding.message.endswith(" is not in the database: it was deleted")


async def test_a_second_history_signed_by_the_enclave_is_caught_by_the_anchors(platform: Platform) -> None:
    """The writer rewrites entry 2, deletes the checkpoints and has the (stateless) enclave sign the
    rewritten log from the start: the database verifies on its own, the anchor does not match."""
    anchor, _ = await anchored_log(platform, 4)
    await rewrite(platform.db, 2, action="admin.accounts.delete")
    await tamper(platform.db, "DELETE FROM audit_checkpoints")
    await create_checkpoints(platform.db, platform.enclave)

    stored = [row async for row in stored_checkpoints(platform.db)]
    findings = anchor_findings(onchain_anchors(anchor.rpc, await anchor.anchorer()), stored)

    assert [row.seq for row in stored] == [4]
    assert len(findings) == 1
    assert "checkpoint at entry 4 anchored in block" in findings[0].message
    assert "differs from the stored one" in findings[0].message


async def test_anchors_from_another_address_are_not_read(platform: Platform) -> None:
    anchor, checkpoints = await anchored_log(platform, 3)
    nsl = platform.nsl
    forged = nsl.gateway.functions.anchorAudit(3, bytes.fromhex("ee" * 32))
    transact(nsl.w3, nsl.user, forged)  # anyone may call anchorAudit; only the anchorer counts

    found = onchain_anchors(anchor.rpc, await anchor.anchorer())
    stranger = onchain_anchors(anchor.rpc, nsl.user.address)

    assert [a.checkpoint_hash for a in found] == [checkpoints[-1].checkpoint_hash]
    assert [a.checkpoint_hash for a in stranger] == ["ee" * 32]
    assert anchor_findings(found, checkpoints) == []


async def test_the_cli_anchors_and_verifies_against_the_anchors(
    platform: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    anchor, _ = await anchored_log(platform, 4)
    settings = platform.settings(tmp_path)
    monkeypatch.setenv("NSL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("NSL_DATABASE_URL", platform.db.url)
    monkeypatch.setenv("NSL_ENCLAVE_SOCKET", str(platform.socket))
    monkeypatch.setenv("NSL_EVM_RPC_URL", str(settings.evm.rpc_url))
    monkeypatch.setenv("NSL_EVM_GATEWAY_ADDRESS", platform.nsl.gateway.address)

    async def nsl(*args: str) -> tuple[int, str]:
        result = await asyncio.to_thread(runner.invoke, cli, list(args))
        return result.exit_code, result.output

    code, output = await nsl("audit", "verify", "--anchors")
    assert code == 0, output
    assert "1 anchors of the audit log on chain" in output
    await append_entries(platform.db, 2)
    await create_checkpoints(platform.db, platform.enclave)
    code, output = await nsl("audit", "anchor")
    assert code == 0, output
    assert "sent: checkpoint at entry 6" in output

    await tamper(platform.db, "DELETE FROM audit_checkpoints")
    await truncate(platform.db, 2)
    anchorer = await anchor.anchorer()
    code, output = await nsl("audit", "verify", "--anchors", "--anchorer", anchorer)
    assert code == 1, output
    assert "checkpoint at entry 4 anchored in block" in output
    assert "is not in the database: it was deleted" in output


def test_the_anchor_job_runs_only_when_on_and_an_evm_gateway_is_set(
    platform: Platform, tmp_path: Path
) -> None:
    kinds = [task.kind for task in service_tasks(platform.settings(tmp_path))]
    on = [
        task.kind
        for task in service_tasks(platform.settings(tmp_path, audit={"anchor_interval_seconds": 60}))
    ]
    no_chain = platform.settings(tmp_path, audit={"anchor_interval_seconds": 60}, evm={"rpc_url": None})
    assert AUDIT_ANCHOR_KIND not in kinds
    assert on.count(AUDIT_ANCHOR_KIND) == 1
    assert AUDIT_ANCHOR_KIND not in [task.kind for task in service_tasks(no_chain)]

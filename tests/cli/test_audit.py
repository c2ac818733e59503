"""``nsl audit checkpoint`` and ``nsl audit verify`` end to end: the real enclave server, both databases.

The commands run in a thread (each calls ``asyncio.run``) while the test's event loop serves the enclave.
Exit status: 0 verified, 1 broken (each finding named), 2 cannot verify (a clear ``[code]`` line).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from neo_service_layer.cli.main import app
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.server import EnclaveServer
from tests.services.audit.helpers import append_entries, other_enclave, rewrite, tamper, truncate

runner = CliRunner()


async def nsl(*args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(runner.invoke, app, list(args))
    return result.exit_code, result.output


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, enclave_server: EnclaveServer
) -> Path:
    monkeypatch.setenv("NSL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NSL_DATABASE_URL", database_url)
    monkeypatch.setenv("NSL_ENCLAVE_SOCKET", str(enclave_server.path))
    return tmp_path


@pytest.fixture
async def checkpointed(cli_env: Path, db: Database) -> Database:
    """Five entries, checkpointed by ``nsl audit checkpoint``, then two more."""
    await append_entries(db, 5)
    code, output = await nsl("audit", "checkpoint")
    assert code == 0, output
    assert "checkpoint at entry 5: " in output
    await append_entries(db, 2)
    return db


async def test_checkpoint_export_and_verify(checkpointed: Database, cli_env: Path) -> None:
    code, output = await nsl("audit", "checkpoint")
    assert code == 0
    assert "checkpoint at entry 7" in output
    code, output = await nsl("audit", "checkpoint")
    assert code == 0
    assert "nothing to checkpoint: no entry follows the latest checkpoint" in output

    exported = cli_env / "checkpoints.jsonl"
    code, output = await nsl("audit", "checkpoint", "--export", str(exported))
    assert code == 0
    assert "exported 2 checkpoints" in output
    lines = exported.read_text().splitlines()
    assert [json.loads(line)["result"]["seq"] for line in lines] == [5, 7]

    code, output = await nsl("audit", "verify", "--checkpoints", str(exported))
    assert code == 0, output
    assert "2 signed checkpoints verified; the latest covers entry 7" in output
    assert "tee none: a software enclave" in output
    assert output.rstrip().endswith("audit log OK: 7 entries")


async def test_verify_names_the_entries_a_truncation_removed(checkpointed: Database) -> None:
    await truncate(checkpointed, keep=2)
    code, output = await nsl("audit", "verify")
    assert code == 1
    assert "audit log BROKEN: entries 3..5 are missing: a signed checkpoint covers entry 5" in output
    assert "audit log OK" not in output


async def test_verify_catches_a_recomputed_chain(checkpointed: Database) -> None:
    await rewrite(checkpointed, 4, actor="someone else")
    code, output = await nsl("audit", "verify")
    assert code == 1
    assert "audit log chain intact: 7 entries" in output  # what the chain alone would say
    assert "audit log BROKEN: entries 1..5 differ from checkpoint 5 signed at " in output


async def test_checkpointing_a_rewritten_log_is_refused(checkpointed: Database) -> None:
    await rewrite(checkpointed, 4, actor="someone else")
    code, output = await nsl("audit", "checkpoint")
    assert code == 2
    assert "Error: [audit_checkpoint_refused] the stored chain at entry 7 does not extend" in output


async def test_deleted_checkpoints_are_found_with_the_export(checkpointed: Database, cli_env: Path) -> None:
    exported = cli_env / "off-box.jsonl"
    assert (await nsl("audit", "checkpoint", "--export", str(exported)))[0] == 0
    await truncate(checkpointed, keep=1)
    await tamper(checkpointed, "DELETE FROM audit_checkpoints")
    code, output = await nsl("audit", "verify")
    assert code == 0  # the database alone has nothing left to contradict it...
    assert "warning: no signed checkpoint" in output
    code, output = await nsl("audit", "verify", "--checkpoints", str(exported))
    assert code == 1  # ...the off-box copy has
    assert "exported checkpoint 1 (entry 5) is not in the database: it was deleted" in output
    assert "entries 2..5 are missing" in output


async def test_verify_against_an_identity_file(
    checkpointed: Database, cli_env: Path, enclave_server: EnclaveServer
) -> None:
    ours = cli_env / "attestation.json"
    ours.write_text(enclave_server.ctx.report.model_dump_json())
    assert (await nsl("audit", "verify", "--identity", str(ours)))[0] == 0
    theirs = cli_env / "other.json"
    theirs.write_text(other_enclave().report.model_dump_json())
    code, output = await nsl("audit", "verify", "--identity", str(theirs))
    assert code == 1
    assert "stored checkpoint 5 is not signed by the enclave identity" in output


@pytest.mark.parametrize(
    ("option", "content", "error"),
    [
        (
            "--checkpoints",
            "not json\n",
            "Error: [audit_checkpoints_invalid] line 1 is not a signed checkpoint",
        ),
        ("--identity", "{", "Error: [attestation_invalid]"),
        (
            "--identity",
            '{"format": "nsl-attestation-v1"}',
            "Error: [attestation_invalid] not an attestation report",
        ),
    ],
    ids=["checkpoints-not-json", "identity-not-json", "identity-not-a-report"],
)
async def test_unusable_files_are_a_clear_error(
    checkpointed: Database, cli_env: Path, option: str, content: str, error: str
) -> None:
    path = cli_env / "input.json"
    path.write_text(content)
    code, output = await nsl("audit", "verify", option, str(path))
    assert code == 2
    assert error in output
    assert "Traceback" not in output


async def test_checkpoints_without_an_enclave_to_check_them_are_an_error(
    checkpointed: Database, monkeypatch: pytest.MonkeyPatch, cli_env: Path
) -> None:
    monkeypatch.setenv("NSL_ENCLAVE_SOCKET", str(cli_env / "nobody.sock"))
    code, output = await nsl("audit", "verify")
    assert code == 2
    assert "Error: [enclave_unavailable]" in output
    assert "--identity" in output

"""``nsl audit``: verify the audit log against the enclave's signed checkpoints, make and export them.

Exit status of ``verify``: 0 when everything checks out, 1 when the log or a checkpoint does not
verify (each finding on its own line), 2 when it cannot be checked (no enclave identity to check the
checkpoints against, an unreadable file): docs/audit.md.
"""

from __future__ import annotations

import asyncio
import json
import sys
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from neo_service_layer.chains.evm.gateway_rpc import GatewayRpc
from neo_service_layer.chains.evm.rpc import node_web3
from neo_service_layer.cli.common import console, err_console, fail, load_settings, open_database, run
from neo_service_layer.client.attestation import VerifiedIdentity, verify_attestation
from neo_service_layer.config import Settings
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.errors import AttestationInvalid, ConfigurationError, EnclaveUnavailable, NSLError
from neo_service_layer.services.audit.anchors import (
    AnchorRun,
    EvmAnchor,
    OnchainAnchor,
    anchor_findings,
    onchain_anchors,
    stored_anchorer,
)
from neo_service_layer.services.audit.checkpoints import (
    create_checkpoints,
    export_line,
    parse_export,
    signed_time,
    stored_checkpoints,
)
from neo_service_layer.services.audit.verification import LogReport, verify_log

app = typer.Typer(help="Audit log.", no_args_is_help=True)


@app.command("verify")
def audit_verify(
    identity: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="The enclave's attestation report (GET /v1/attestation) to check checkpoints against; "
            "default: ask the running enclave",
        ),
    ] = None,
    collateral: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Quote collateral (JSON) for a hardware report"),
    ] = None,
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Exported checkpoints (nsl audit checkpoint --export) to check as well; finds deleted ones",
        ),
    ] = None,
    anchors: Annotated[
        bool,
        typer.Option(
            "--anchors",
            help="Check the checkpoints against their anchors on the EVM gateway (NSL_EVM_RPC_URL, "
            "NSL_EVM_GATEWAY_ADDRESS); finds deleted or re-signed ones",
        ),
    ] = False,
    anchorer: Annotated[
        str | None,
        typer.Option(help="The anchor key's address (pin it: by default it is read from the database)"),
    ] = None,
) -> None:
    """Walk the audit hash chain and check it against the signed checkpoints; exit 1 on any break."""
    settings = load_settings()
    try:
        exported = parse_export(checkpoints.read_text().splitlines()) if checkpoints is not None else None
        report_json = _read_report(identity) if identity is not None else None
    except NSLError as exc:
        fail(exc)
    collateral_json = collateral.read_text() if collateral is not None else None

    async def body() -> LogReport:
        async with open_database(settings) as db:
            stored = [row async for row in stored_checkpoints(db)]
            verified_identity = None
            if stored or exported:
                verified_identity = await _identity(settings, report_json, collateral_json)
                software = (
                    " (tee none: a software enclave, not hardware-protected)"
                    if not verified_identity.hardware
                    else ""
                )
                _out(
                    f"checking checkpoints against enclave identity {verified_identity.k1_address}{software}"
                )
            report = await verify_log(db, verified_identity, stored, exported)
            if not anchors:
                return report
            found = await _anchors(settings, db, anchorer)
            _out(f"{len(found)} anchors of the audit log on chain")
            return replace(report, findings=(*report.findings, *anchor_findings(found, stored)))

    report = run(body)
    _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


@app.command("checkpoint")
def audit_checkpoint(
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            dir_okay=False,
            help="Write every stored checkpoint to this file ('-': stdout), one signed JSON envelope a line, "
            "instead of making one",
        ),
    ] = None,
) -> None:
    """Have the enclave sign a checkpoint of the log's head now (or, with --export, write them all out)."""
    settings = load_settings()

    async def make() -> None:
        enclave = UnixEnclaveClient.from_settings(settings, pool_size=1)
        try:
            async with open_database(settings) as db:
                created = await create_checkpoints(db, enclave)
        finally:
            await enclave.close()
        if not created:
            _out("nothing to checkpoint: no entry follows the latest checkpoint")
        for row in created:
            _out(f"checkpoint at entry {row.seq}: {row.hash} (signed {row.signed_at.isoformat()})")

    async def lines() -> list[str]:
        async with open_database(settings) as db:
            return [export_line(row.envelope) + "\n" async for row in stored_checkpoints(db)]

    if export is None:
        run(make)
        return
    exported = run(lines)
    with nullcontext(sys.stdout) if str(export) == "-" else export.open("w", encoding="utf-8") as out:
        out.writelines(exported)
    _err(f"exported {len(exported)} checkpoints")


@app.command("anchor")
def audit_anchor() -> None:
    """Publish the newest checkpoint on the EVM gateway now (what the audit.anchor job does), or settle
    the anchor in flight."""
    settings = load_settings()

    async def body() -> AnchorRun:
        rpc = _gateway(settings)
        enclave = UnixEnclaveClient.from_settings(settings, pool_size=1)
        try:
            async with open_database(settings) as db:
                anchor = EvmAnchor(db, enclave, rpc, await asyncio.to_thread(rpc.chain_id))
                return await anchor.run()
        finally:
            await enclave.close()

    done = run(body)
    _out(
        f"{done.action}"
        + (f": checkpoint at entry {done.seq}, transaction {done.tx_hash}" if done.seq else "")
    )


def _gateway(settings: Settings) -> GatewayRpc:
    if not settings.evm.rpc_url or not settings.evm.gateway_address:
        raise ConfigurationError("audit anchors need NSL_EVM_RPC_URL and NSL_EVM_GATEWAY_ADDRESS")
    return GatewayRpc(node_web3(settings.evm.rpc_url), settings.evm.gateway_address)


async def _anchors(settings: Settings, db: Database, anchorer: str | None) -> list[OnchainAnchor]:
    rpc = _gateway(settings)
    address = anchorer or await stored_anchorer(db, await asyncio.to_thread(rpc.chain_id))
    if address is None:
        raise ConfigurationError("no anchor key in the database: pass --anchorer")
    _out(f"reading the anchors of {address}")
    return await asyncio.to_thread(onchain_anchors, rpc, address)


def _read_report(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise AttestationInvalid(f"{path} is not JSON") from exc


async def _identity(settings: Settings, report: Any, collateral: str | None) -> VerifiedIdentity:
    """The enclave identity checkpoints must be signed by: the given report's, or the running enclave's."""
    if report is None:
        enclave = UnixEnclaveClient.from_settings(settings, pool_size=1)
        try:
            report = await enclave.attest()
        except EnclaveUnavailable as exc:
            raise EnclaveUnavailable(f"{exc.detail}; or pass --identity with its attestation report") from exc
        finally:
            await enclave.close()
    return verify_attestation(report, allow_software=True, collateral=collateral)


def _out(line: str) -> None:
    # soft_wrap: one finding or hash a line, whatever the terminal width (scripts grep these lines).
    console.print(line, soft_wrap=True)


def _err(line: str) -> None:
    err_console.print(line, soft_wrap=True)


def _print_report(report: LogReport) -> None:
    chain = report.chain
    if chain.ok:
        _out(f"audit log chain intact: {chain.entries} entries")
    else:
        _err(f"audit log BROKEN at entry {chain.bad_seq}: {chain.reason}")
    for finding in report.findings:
        _err(f"audit log BROKEN: {finding.message}")
    latest = report.latest
    if latest is not None:
        _out(
            f"{report.checkpoints} signed checkpoints verified; the latest covers entry {latest.seq} "
            f"(signed {signed_time(latest).isoformat()}); {report.unchecked} entries after it are not "
            "checkpointed yet"
        )
    elif not report.findings:
        _err(
            "warning: no signed checkpoint: the chain alone does not show a rewrite by a database writer "
            "(nsl audit checkpoint)"
        )
    if report.ok:
        _out(f"audit log OK: {chain.entries} entries")

"""Reads are audited through the group-commit writer: every GET is in the chain before its response,
concurrent GETs share transactions, and a failed batch fails every request in it (fail-closed)."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from sqlalchemy import delete, select

from neo_service_layer.api.guards import CredentialCtx
from neo_service_layer.api.state import AppState
from neo_service_layer.db.models import AuditEntry, AuditHead, Member
from neo_service_layer.ids import IdPrefix, new_id
from neo_service_layer.services.audit.chain import HEAD_ID, verify
from neo_service_layer.services.audit.writer import AuditWriter
from tests.api.helpers import assert_problem, audit_entries
from tests.conftest import Tenant

CONCURRENT = 40


def writer_of(state: AppState) -> AuditWriter:
    assert isinstance(state.audit, AuditWriter)
    return state.audit


async def test_concurrent_gets_are_all_audited_in_fewer_transactions(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant
) -> None:
    writer = writer_of(state)
    before = (writer.batches, writer.entries)
    responses = await asyncio.gather(
        *(client.get("/v1/account", headers=tenant.headers) for _ in range(CONCURRENT))
    )
    assert [r.status_code for r in responses] == [200] * CONCURRENT
    by_request = {e.request_id: e for e in await audit_entries(state.db, tenant.account_id)}
    for response in responses:
        entry = by_request[response.headers["x-request-id"]]
        assert (entry.action, entry.outcome, entry.status_code) == ("account.get", "success", 200)
    batches, entries = writer.batches - before[0], writer.entries - before[1]
    assert entries == CONCURRENT
    assert batches < entries
    async with state.db.session() as session:
        assert (await verify(session)).ok


async def test_a_get_that_writes_appends_in_its_own_transaction(
    app: FastAPI, client: httpx.AsyncClient, state: AppState, tenant: Tenant
) -> None:
    """Group commit is only for entries with nothing to commit with: a write stays atomic with its entry."""

    async def get_that_writes(ctx: CredentialCtx) -> dict[str, str]:
        ctx.session.add(
            Member(
                id=new_id(IdPrefix.MEMBER), account_id=ctx.principal.account_id, email="g@e.t", role="viewer"
            )
        )
        return {"ok": "yes"}

    app.add_api_route("/test/get-writes", get_that_writes, methods=["GET"], name="test.get_writes")
    writer = writer_of(state)
    before = writer.entries
    response = await client.get("/test/get-writes", headers=tenant.headers)
    assert response.status_code == 200
    assert writer.entries == before  # not through the writer
    entry = (await audit_entries(state.db, tenant.account_id))[-1]
    assert (entry.action, entry.request_id) == ("test.get_writes", response.headers["x-request-id"])
    async with state.db.session() as session:
        assert (await session.execute(select(Member.email))).scalars().all() == ["g@e.t"]


async def test_when_the_audit_write_fails_every_read_fails(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant
) -> None:
    await client.get("/v1/account", headers=tenant.headers)  # the key is cached: no other write
    async with state.db.transaction() as session:
        head = (await session.execute(select(AuditHead))).scalar_one()
        saved = (head.seq, head.hash)
        # Without its head the chain cannot be extended: every batch fails before it commits.
        await session.execute(delete(AuditHead))
    try:
        responses = await asyncio.gather(
            *(client.get("/v1/account", headers=tenant.headers) for _ in range(CONCURRENT))
        )
    finally:
        async with state.db.transaction() as session:
            session.add(AuditHead(id=HEAD_ID, seq=saved[0], hash=saved[1]))
    for response in responses:
        assert_problem(response, 500, "audit_write_failed")  # problem+json, never a success
    async with state.db.session() as session:
        seqs = (await session.execute(select(AuditEntry.seq))).scalars().all()
        assert len(seqs) == saved[0]  # nothing was written for the failed requests
        assert (await verify(session)).ok
    # The writer recovered: the next read is answered and audited.
    ok = await client.get("/v1/account", headers=tenant.headers)
    assert ok.status_code == 200
    assert (await audit_entries(state.db, tenant.account_id))[-1].request_id == ok.headers["x-request-id"]


async def test_a_route_that_never_uses_its_session_is_audited_and_fails_closed(
    app: FastAPI, client: httpx.AsyncClient, state: AppState, tenant: Tenant
) -> None:
    """The session opens on first use: a POST that reads nothing opens none, and its entry goes through
    the writer; the response still waits for the commit, and fails if the entry is not written."""

    async def post_without_session(ctx: CredentialCtx) -> dict[str, str]:
        ctx.audit_details = {"touched": "nothing"}
        return {"ok": "yes"}

    app.add_api_route("/test/no-session", post_without_session, methods=["POST"], name="test.no_session")
    writer = writer_of(state)
    before = writer.entries
    response = await client.post("/test/no-session", headers=tenant.headers)
    assert response.status_code == 200
    assert writer.entries == before + 1
    entry = (await audit_entries(state.db, tenant.account_id))[-1]
    assert (entry.action, entry.request_id, entry.details) == (
        "test.no_session",
        response.headers["x-request-id"],
        {"touched": "nothing"},
    )
    async with state.db.transaction() as session:
        head = (await session.execute(select(AuditHead))).scalar_one()
        saved = (head.seq, head.hash)
        await session.execute(delete(AuditHead))
    try:
        failed = await client.post("/test/no-session", headers=tenant.headers)
    finally:
        async with state.db.transaction() as session:
            session.add(AuditHead(id=HEAD_ID, seq=saved[0], hash=saved[1]))
    assert_problem(failed, 500, "audit_write_failed")
    async with state.db.session() as session:
        assert (await verify(session)).ok

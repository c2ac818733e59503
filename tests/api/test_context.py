"""A request's unit of work: writes and audit entry commit together, or roll back and a failure is audited."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import select

from neo_service_layer.api.context import MAX_RESOURCE_LENGTH, audit_resource, request_path
from neo_service_layer.api.guards import CredentialCtx
from neo_service_layer.api.state import AppState
from neo_service_layer.db.models import Member
from neo_service_layer.errors import Conflict
from neo_service_layer.ids import IdPrefix, new_id
from neo_service_layer.services.audit.chain import verify
from tests.api.helpers import assert_problem, audit_entries
from tests.conftest import Tenant


@pytest.fixture
def failing_routes(app: FastAPI) -> FastAPI:
    """Routes that write a member and then fail, like a service that breaks halfway."""

    async def write_then_refuse(ctx: CredentialCtx) -> None:
        ctx.session.add(
            Member(
                id=new_id(IdPrefix.MEMBER), account_id=ctx.principal.account_id, email="x@y.z", role="viewer"
            )
        )
        await ctx.session.flush()
        ctx.audit_details = {"member": "x@y.z"}
        raise Conflict("refused after writing")

    async def write_then_crash(ctx: CredentialCtx) -> None:
        ctx.session.add(
            Member(
                id=new_id(IdPrefix.MEMBER), account_id=ctx.principal.account_id, email="x@y.z", role="viewer"
            )
        )
        await ctx.session.flush()
        raise RuntimeError("crashed after writing")

    app.add_api_route("/test/refuse", write_then_refuse, methods=["POST"], name="test.refuse")
    app.add_api_route("/test/crash", write_then_crash, methods=["POST"], name="test.crash")
    return app


async def members(state: AppState) -> list[Member]:
    async with state.db.session() as session:
        return list((await session.execute(select(Member))).scalars().all())


async def test_a_refused_request_rolls_back_and_is_audited_as_denied(
    failing_routes: FastAPI, client: httpx.AsyncClient, state: AppState, tenant: Tenant
) -> None:
    response = await client.post("/test/refuse", headers=tenant.headers)
    assert_problem(response, 409, "conflict")
    assert await members(state) == []
    entry = (await audit_entries(state.db, tenant.account_id))[-1]
    assert (entry.action, entry.outcome, entry.status_code) == ("test.refuse", "denied", 409)
    assert entry.details == {"member": "x@y.z", "code": "conflict"}
    assert entry.request_id == response.headers["x-request-id"]


async def test_a_crash_rolls_back_and_is_audited_as_an_error(
    failing_routes: FastAPI, state: AppState, tenant: Tenant
) -> None:
    transport = httpx.ASGITransport(app=failing_routes, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://nsl.test") as raw:
        response = await raw.post("/test/crash", headers=tenant.headers)
    assert_problem(response, 500, "internal_error")
    assert await members(state) == []
    entry = (await audit_entries(state.db, tenant.account_id))[-1]
    assert (entry.action, entry.outcome, entry.status_code) == ("test.crash", "error", 500)
    assert entry.details == {"code": "internal_error"}
    async with state.db.session() as session:
        assert (await verify(session)).ok


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/api-keys", "/v1/api-keys"),
        ("/v1/api-keys/a\x00b", "/v1/api-keys/a%00b"),
        ("/v1/ünï", "/v1/%C3%BCn%C3%AF"),
        ("/v1/" + "k" * 600, ("/v1/" + "k" * 600)[:MAX_RESOURCE_LENGTH]),
    ],
    ids=["plain", "nul", "unicode", "too-long"],
)
def test_audit_resource_is_printable_and_bounded(path: str, expected: str) -> None:
    assert audit_resource(path) == expected


@pytest.mark.parametrize(
    "path",
    ["/v1/account", "/v1/a?b", "/v1/a#b", "/v1/a\\b", "/v1/a\tb\r\nc", "//v1/a", "/v1/ü", "/v1/a\x00b", "/"],
)
@pytest.mark.parametrize("host", [b"nsl.test", b"bad host/", None], ids=["host", "bad-host", "no-host"])
@pytest.mark.parametrize("server", [("127.0.0.1", 8000), None], ids=["server", "no-server"])
def test_request_path_is_starlettes_url_path(path: str, host: bytes | None, server: object) -> None:
    headers = [] if host is None else [(b"host", host)]
    scope = {"type": "http", "path": path, "query_string": b"", "headers": headers, "server": server}
    assert request_path(Request(scope)) == Request(scope).url.path


@pytest.mark.parametrize("suffix", ["%00", "k" * 600], ids=["nul-byte", "longer-than-the-column"])
async def test_refusals_on_odd_paths_are_still_audited(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant, suffix: str
) -> None:
    """PostgreSQL refuses NUL bytes and over-long values: the failure entry must still be written."""
    response = await client.get(f"/v1/api-keys/{suffix}", headers=tenant.headers)
    assert_problem(response, 422, "validation_failed")
    entry = (await audit_entries(state.db, tenant.account_id))[-1]
    assert entry.outcome == "denied"
    assert entry.request_id == response.headers["x-request-id"]
    assert len(entry.resource) <= MAX_RESOURCE_LENGTH
    assert "\x00" not in entry.resource

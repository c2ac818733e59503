"""Request ids: echoed when safe, generated otherwise, in headers, problems and the audit log."""

from __future__ import annotations

import re

import httpx
import pytest

from neo_service_layer.api.state import AppState
from tests.api.helpers import audit_entries
from tests.conftest import Tenant

GENERATED = re.compile(r"^req_[0-9a-f]{16}$")


@pytest.mark.parametrize(
    "supplied",
    ["abc-123", "trace.span:7_x", "A" * 64],
    ids=["simple", "punctuation", "longest"],
)
async def test_safe_request_id_is_echoed(client: httpx.AsyncClient, supplied: str) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": supplied})
    assert response.headers.get_list("x-request-id") == [supplied]


@pytest.mark.parametrize(
    "supplied",
    ["", "A" * 65, "has space", "semi;colon", "quote'", "ünïcode", "back\\slash"],
    ids=["empty", "too-long", "space", "semicolon", "quote", "non-ascii", "backslash"],
)
async def test_unsafe_request_id_is_replaced(client: httpx.AsyncClient, supplied: str) -> None:
    response = await client.get("/healthz", headers=[(b"X-Request-ID", supplied.encode())])
    (request_id,) = response.headers.get_list("x-request-id")
    assert GENERATED.match(request_id)


async def test_generated_ids_are_unique(client: httpx.AsyncClient) -> None:
    ids = {(await client.get("/healthz")).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5
    assert all(GENERATED.match(request_id) for request_id in ids)


async def test_problem_and_audit_carry_the_same_request_id(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant
) -> None:
    ok = await client.get("/v1/account", headers={**tenant.headers, "X-Request-ID": "req-ok-1"})
    denied = await client.post("/v1/admin/accounts", json={"name": "x"}, headers=tenant.headers)
    assert ok.headers.get_list("x-request-id") == ["req-ok-1"]
    assert denied.headers.get_list("x-request-id") == [denied.json()["request_id"]]
    by_request = {entry.request_id: entry for entry in await audit_entries(state.db, tenant.account_id)}
    assert by_request["req-ok-1"].action == "account.get"
    assert by_request[denied.json()["request_id"]].outcome == "denied"

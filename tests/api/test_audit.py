"""``/v1/audit``: the account's own entries: who did what to which resource, how it ended, which request."""

from __future__ import annotations

import httpx
import pytest

from neo_service_layer.api.state import AppState
from neo_service_layer.services.audit.chain import verify
from neo_service_layer.services.audit.writer import AuditWriter
from tests.api.helpers import assert_problem, auth, create_key
from tests.conftest import Tenant


async def entries(
    client: httpx.AsyncClient, headers: dict[str, str], **params: str
) -> list[dict[str, object]]:
    response = await client.get("/v1/audit", params={"limit": 500, **params}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


async def test_each_account_sees_only_its_own_entries(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant, other_tenant: Tenant
) -> None:
    await create_key(client, tenant.owner_key, name="mine")
    await create_key(client, other_tenant.owner_key, name="theirs")
    mine = await entries(client, tenant.headers)
    theirs = await entries(client, other_tenant.headers)
    assert mine
    assert theirs
    assert not {e["seq"] for e in mine} & {e["seq"] for e in theirs}
    other_key_id = (await client.get("/v1/api-keys", headers=other_tenant.headers)).json()["items"][0]["id"]
    assert all(other_key_id not in str(e) for e in mine)
    async with state.db.session() as session:
        assert (await verify(session)).ok


async def test_an_entry_records_actor_action_resource_outcome_and_request(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await create_key(client, tenant.owner_key, name="ci", headers={"X-Request-ID": "audit-req-1"})
    created = response.json()
    owner_id = (await client.get("/v1/api-keys", headers=tenant.headers)).json()["items"][0]["id"]
    (entry,) = await entries(client, tenant.headers, action="api_keys.create")
    assert entry["actor"] == f"api_key:{owner_id}"
    assert entry["resource"] == "/v1/api-keys"
    assert entry["outcome"] == "success"
    assert entry["status_code"] == 201
    assert entry["request_id"] == "audit-req-1"
    assert entry["details"] == {"key_id": created["id"], "role": "developer", "scopes": ["*"]}
    assert created["secret"] not in str(entry)


async def test_refusals_are_audited_with_their_code(client: httpx.AsyncClient, tenant: Tenant) -> None:
    viewer = (await create_key(client, tenant.owner_key, role="viewer")).json()
    refused = await create_key(client, viewer["secret"], name="nope")
    assert_problem(refused, 403, "forbidden")
    (entry,) = await entries(client, tenant.headers, outcome="denied")
    assert entry["actor"] == f"api_key:{viewer['id']}"
    assert entry["status_code"] == 403
    assert entry["details"] == {"code": "forbidden"}
    assert entry["request_id"] == refused.headers["x-request-id"]


async def test_reads_are_audited_too(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await client.get("/v1/account", headers=tenant.headers)
    (entry,) = await entries(client, tenant.headers, action="account.get")
    assert (entry["outcome"], entry["status_code"], entry["resource"]) == ("success", 200, "/v1/account")


async def test_the_chain_fields_are_published(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await client.get("/v1/account", headers=tenant.headers)
    listed = await entries(client, tenant.headers)
    assert all(len(str(e["hash"])) == 64 and len(str(e["prev_hash"])) == 64 for e in listed)


@pytest.mark.parametrize(
    "params",
    [{"outcome": "exploded"}, {"action": "a b"}, {"action": "x" * 201}, {"action": "\x00"}],
    ids=["unknown-outcome", "space-in-action", "long-action", "nul-in-action"],
)
async def test_bad_filters_are_a_422(
    client: httpx.AsyncClient, tenant: Tenant, params: dict[str, str]
) -> None:
    assert_problem(
        await client.get("/v1/audit", params=params, headers=tenant.headers), 422, "validation_failed"
    )


async def test_reading_the_audit_log_needs_the_audit_scope(client: httpx.AsyncClient, tenant: Tenant) -> None:
    account_only = (await create_key(client, tenant.owner_key, role="owner", scopes=["account:read"])).json()
    assert_problem(await client.get("/v1/audit", headers=auth(account_only["secret"])), 403, "missing_scope")


async def test_the_audit_writer_lingers_on_postgresql_only(state: AppState) -> None:
    # PostgreSQL: commits are dear and several processes share the chain head; SQLite: never wait.
    expected = 0.0 if state.db.is_sqlite else state.settings.audit.batch_linger_seconds
    assert isinstance(state.audit, AuditWriter)
    assert state.audit.linger_seconds == expected
    assert state.settings.audit.batch_linger_seconds == 0.001

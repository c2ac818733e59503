"""``Idempotency-Key`` (draft-ietf-httpapi-idempotency-key-header) on the POSTs that create."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from neo_service_layer.api.state import AppState
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import IdempotencyRecord
from tests.api.helpers import assert_problem, auth, row_counts
from tests.conftest import Tenant


def idem(key: str, headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def stored_records(state: AppState) -> list[IdempotencyRecord]:
    async with state.db.session() as session:
        return list((await session.execute(select(IdempotencyRecord))).scalars().all())


async def test_same_key_and_body_replays_without_the_secret(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant
) -> None:
    body = {"name": "deploy", "role": "viewer"}
    first = await client.post("/v1/api-keys", json=body, headers=idem("k-1", tenant.headers))
    assert first.status_code == 201
    assert first.json()["secret"]
    assert "idempotent-replayed" not in first.headers
    counts = await row_counts(state.db)

    replay = await client.post("/v1/api-keys", json=body, headers=idem("k-1", tenant.headers))
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == {**first.json(), "secret": None}
    assert await row_counts(state.db) == counts

    (record,) = await stored_records(state)
    assert record.account_id == tenant.account_id
    assert first.json()["secret"] not in record.response_body
    assert '"secret": null' in record.response_body


async def test_same_key_with_another_body_is_a_409_and_creates_nothing(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant
) -> None:
    first = await client.post("/v1/api-keys", json={"name": "a"}, headers=idem("k-2", tenant.headers))
    assert first.status_code == 201
    counts = await row_counts(state.db)
    other = await client.post("/v1/api-keys", json={"name": "b"}, headers=idem("k-2", tenant.headers))
    assert_problem(other, 409, "idempotency_key_reused")
    assert await row_counts(state.db) == counts


async def test_same_key_on_another_route_is_a_409(client: httpx.AsyncClient, tenant: Tenant) -> None:
    key = idem("k-3", tenant.headers)
    assert (await client.post("/v1/api-keys", json={"name": "a"}, headers=key)).status_code == 201
    member = await client.post(
        "/v1/account/members", json={"email": "a@example.com", "role": "viewer"}, headers=key
    )
    assert_problem(member, 409, "idempotency_key_reused")


async def test_keys_are_per_account(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, admin_key: str
) -> None:
    body = {"name": "same"}
    mine = await client.post("/v1/api-keys", json=body, headers=idem("shared", tenant.headers))
    theirs = await client.post("/v1/api-keys", json=body, headers=idem("shared", other_tenant.headers))
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    assert theirs.json()["account_id"] == other_tenant.account_id
    assert theirs.json()["secret"]
    # Admin routes run in an unscoped session: their lookup must still be the admin's own account's.
    admin = await client.post(
        "/v1/admin/accounts", json={"name": "n"}, headers=idem("shared", auth(admin_key))
    )
    assert admin.status_code == 201
    assert "idempotent-replayed" not in admin.headers


async def test_admin_replays_account_creation(
    client: httpx.AsyncClient, state: AppState, admin_key: str
) -> None:
    headers = idem("acct-1", auth(admin_key))
    first = await client.post("/v1/admin/accounts", json={"name": "n"}, headers=headers)
    counts = await row_counts(state.db)
    replay = await client.post("/v1/admin/accounts", json={"name": "n"}, headers=headers)
    assert replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    assert await row_counts(state.db) == counts


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/account/members", {"email": "m@example.com", "role": "viewer"}),
        ("/v1/api-keys/{key}/rotate", {"overlap_seconds": 60}),
    ],
    ids=["members", "rotate"],
)
async def test_other_creating_routes_replay(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant, path: str, body: dict[str, object]
) -> None:
    key_id = (await client.post("/v1/api-keys", json={"name": "r"}, headers=tenant.headers)).json()["id"]
    url = path.format(key=key_id)
    first = await client.post(url, json=body, headers=idem("k-4", tenant.headers))
    assert first.status_code == 201
    counts = await row_counts(state.db)
    replay = await client.post(url, json=body, headers=idem("k-4", tenant.headers))
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    expected = {**first.json(), "secret": None} if "secret" in first.json() else first.json()
    assert replay.json() == expected
    assert await row_counts(state.db) == counts


async def test_without_a_key_each_post_creates(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant
) -> None:
    before = (await row_counts(state.db))["api_keys"]
    for _ in range(2):
        assert (
            await client.post("/v1/api-keys", json={"name": "x"}, headers=tenant.headers)
        ).status_code == 201
    assert (await row_counts(state.db))["api_keys"] == before + 2
    assert await stored_records(state) == []


async def test_a_failed_request_is_not_remembered(client: httpx.AsyncClient, tenant: Tenant) -> None:
    headers = idem("k-5", tenant.headers)
    refused = await client.post("/v1/api-keys", json={"name": "x", "role": "admin"}, headers=headers)
    assert_problem(refused, 403, "forbidden")
    assert (await client.post("/v1/api-keys", json={"name": "x"}, headers=headers)).status_code == 201


async def test_an_expired_record_is_replaced(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant
) -> None:
    headers = idem("k-6", tenant.headers)
    assert (await client.post("/v1/api-keys", json={"name": "old"}, headers=headers)).status_code == 201
    async with state.db.transaction() as session:
        await session.execute(update(IdempotencyRecord).values(expires_at=utcnow() - timedelta(seconds=1)))
    fresh = await client.post("/v1/api-keys", json={"name": "new"}, headers=headers)
    assert fresh.status_code == 201
    assert fresh.json()["name"] == "new"
    (record,) = await stored_records(state)
    assert record.expires_at > utcnow()
    assert '"name": "new"' in record.response_body


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\tinside"], ids=["empty", "too-long", "control-char"])
async def test_invalid_idempotency_key_is_a_422(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant, key: str
) -> None:
    before = await row_counts(state.db)
    response = await client.post("/v1/api-keys", json={"name": "x"}, headers=idem(key, tenant.headers))
    assert_problem(response, 422, "validation_failed")
    assert await row_counts(state.db) == before


async def test_longest_allowed_key_works(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post("/v1/api-keys", json={"name": "x"}, headers=idem("k" * 255, tenant.headers))
    assert response.status_code == 201

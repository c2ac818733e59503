"""``/v1/account``: the caller's own account and its members."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select, update

from neo_service_layer.api.auth_cache import AuthCache
from neo_service_layer.api.state import AppState
from neo_service_layer.db.models import Account, Member
from tests.api.conftest import RoleKeys
from tests.api.helpers import assert_problem, auth, row_counts
from tests.conftest import Tenant


async def add_member(client: httpx.AsyncClient, key: str, email: str, role: str) -> httpx.Response:
    return await client.post("/v1/account/members", json={"email": email, "role": role}, headers=auth(key))


async def test_account_is_the_callers_own(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = (await client.get("/v1/account", headers=tenant.headers)).json()
    theirs = (await client.get("/v1/account", headers=other_tenant.headers)).json()
    assert (mine["id"], mine["name"], mine["disabled"], mine["is_system"]) == (
        tenant.account_id,
        "acme",
        False,
        False,
    )
    assert theirs["id"] == other_tenant.account_id


async def test_members_are_added_listed_and_removed(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await add_member(client, tenant.owner_key, "Ada@Example.COM", "developer")
    assert response.status_code == 201
    member = response.json()
    assert (member["email"], member["role"], member["account_id"]) == (
        "ada@example.com",
        "developer",
        tenant.account_id,
    )

    listed = (await client.get("/v1/account/members", headers=tenant.headers)).json()
    assert [m["id"] for m in listed["items"]] == [member["id"]]
    assert listed["next_cursor"] is None

    removed = await client.delete(f"/v1/account/members/{member['id']}", headers=tenant.headers)
    assert removed.status_code == 204
    assert removed.content == b""
    assert (await client.get("/v1/account/members", headers=tenant.headers)).json()["items"] == []
    again = await client.delete(f"/v1/account/members/{member['id']}", headers=tenant.headers)
    assert_problem(again, 404, "not_found")


async def test_a_member_is_added_once(client: httpx.AsyncClient, state: AppState, tenant: Tenant) -> None:
    assert (await add_member(client, tenant.owner_key, "bob@example.com", "viewer")).status_code == 201
    before = await row_counts(state.db)
    duplicate = await add_member(client, tenant.owner_key, "BOB@example.com", "developer")
    assert_problem(duplicate, 409, "conflict")
    assert await row_counts(state.db) == before


async def test_the_same_person_may_join_two_accounts(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    assert (await add_member(client, tenant.owner_key, "eve@example.com", "viewer")).status_code == 201
    assert (await add_member(client, other_tenant.owner_key, "eve@example.com", "owner")).status_code == 201


@pytest.mark.parametrize(
    ("role", "member_role", "status", "code"),
    [
        ("owner", "owner", 201, None),
        ("owner", "viewer", 201, None),
        ("owner", "admin", 403, "forbidden"),
        ("developer", "viewer", 403, "forbidden"),
        ("viewer", "viewer", 403, "forbidden"),
    ],
    ids=lambda value: str(value),
)
async def test_who_may_add_which_member(
    client: httpx.AsyncClient,
    state: AppState,
    role_keys: RoleKeys,
    role: str,
    member_role: str,
    status: int,
    code: str | None,
) -> None:
    before = await row_counts(state.db)
    response = await add_member(client, role_keys[role], "new@example.com", member_role)
    if code is None:
        assert response.status_code == status
    else:
        assert_problem(response, status, code)
        assert await row_counts(state.db) == before


@pytest.mark.parametrize("role", ["developer", "viewer"], ids=str)
async def test_only_owners_remove_members(
    client: httpx.AsyncClient, role_keys: RoleKeys, tenant: Tenant, role: str
) -> None:
    member = (await add_member(client, tenant.owner_key, "carol@example.com", "viewer")).json()
    response = await client.delete(f"/v1/account/members/{member['id']}", headers=auth(role_keys[role]))
    assert_problem(response, 403, "forbidden")
    listed = (await client.get("/v1/account/members", headers=auth(role_keys[role]))).json()
    assert [m["id"] for m in listed["items"]] == [member["id"]]


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "role": "viewer"},
        {"email": "a@example.com", "role": "root"},
        {"email": "a@example.com"},
        {"email": "a@example.com", "role": "viewer", "note": "x"},
        {"email": ["a@example.com"], "role": "viewer"},
    ],
    ids=["bad-email", "unknown-role", "missing-role", "unknown-field", "wrong-type"],
)
async def test_invalid_member_is_a_422(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant, body: dict[str, object]
) -> None:
    before = await row_counts(state.db)
    response = await client.post("/v1/account/members", json=body, headers=tenant.headers)
    problem = assert_problem(response, 422, "validation_failed")
    assert problem["errors"]
    assert await row_counts(state.db) == before


async def test_another_accounts_member_is_not_found_and_not_removed(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = (await add_member(client, other_tenant.owner_key, "mallory-target@example.com", "owner")).json()
    response = await client.delete(f"/v1/account/members/{theirs['id']}", headers=tenant.headers)
    assert_problem(response, 404, "not_found")
    assert "mallory-target" not in response.text
    async with state.db.session() as session:
        assert (await session.execute(select(Member.id).where(Member.id == theirs["id"]))).scalar_one()
    mine = (await client.get("/v1/account/members", headers=tenant.headers)).json()["items"]
    assert theirs["id"] not in {m["id"] for m in mine}


class _Clock:
    """The auth cache's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("via", ["x-api-key", "bearer-token"])
async def test_the_cached_account_is_no_staler_than_the_auth_cache_ttl(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant, via: str
) -> None:
    # GET /v1/account answers from the account cached with the principal. Changed by another replica
    # (here: straight in the database, so this process's cache is not cleared), the account is
    # served as cached until the TTL ends, and then a disabled account stops its credentials.
    clock = _Clock()
    state.auth_cache = AuthCache(state.settings.auth_cache_seconds, clock=clock)
    headers = tenant.headers
    if via == "bearer-token":
        token = await client.post("/v1/auth/token", json={}, headers=tenant.headers)
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert (await client.get("/v1/account", headers=headers)).json()["name"] == "acme"
    async with state.db.transaction() as session:
        await session.execute(
            update(Account).where(Account.id == tenant.account_id).values(name="renamed", disabled=True)
        )
    clock.now += state.settings.auth_cache_seconds * 0.99
    cached = (await client.get("/v1/account", headers=headers)).json()
    assert (cached["name"], cached["disabled"]) == ("acme", False)
    clock.now += state.settings.auth_cache_seconds * 0.02
    assert_problem(await client.get("/v1/account", headers=headers), 401, "unauthenticated")

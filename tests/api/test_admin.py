"""``/v1/admin``: platform operators create and disable accounts and hand out their first keys."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from neo_service_layer.api.state import AppState
from neo_service_layer.db.models import Account
from tests.api.conftest import RoleKeys
from tests.api.helpers import assert_problem, auth, bearer, row_counts
from tests.conftest import Tenant

UNKNOWN_ACCOUNT = "acc_01ZZZZZZZZZZZZZZZZZZZZZZZZ"
# Every admin route, with a body where it needs one.
ADMIN_ROUTES = [
    ("POST", "/v1/admin/accounts", {"name": "x"}),
    ("GET", "/v1/admin/accounts", None),
    ("GET", "/v1/admin/accounts/{account}", None),
    ("PATCH", "/v1/admin/accounts/{account}", {"disabled": True}),
    ("POST", "/v1/admin/accounts/{account}/api-keys", {"name": "x", "role": "owner"}),
]


async def system_account_id(state: AppState) -> str:
    async with state.db.session() as session:
        return (await session.execute(select(Account.id).where(Account.is_system.is_(True)))).scalar_one()


async def test_admin_creates_lists_and_reads_accounts(client: httpx.AsyncClient, admin_key: str) -> None:
    created = await client.post("/v1/admin/accounts", json={"name": "initech"}, headers=auth(admin_key))
    assert created.status_code == 201
    account = created.json()
    assert (account["name"], account["disabled"], account["is_system"]) == ("initech", False, False)
    listed = (await client.get("/v1/admin/accounts", headers=auth(admin_key))).json()["items"]
    assert [a["name"] for a in listed] == ["system", "initech"]
    fetched = await client.get(f"/v1/admin/accounts/{account['id']}", headers=auth(admin_key))
    assert fetched.json() == account


async def test_unknown_account_is_a_404(client: httpx.AsyncClient, state: AppState, admin_key: str) -> None:
    before = await row_counts(state.db)
    for method, path, body in ADMIN_ROUTES[2:]:
        response = await client.request(
            method, path.format(account=UNKNOWN_ACCOUNT), json=body, headers=auth(admin_key)
        )
        assert_problem(response, 404, "not_found")
    assert await row_counts(state.db) == before


async def test_disabling_an_account_stops_its_keys_and_enabling_restores_them(
    client: httpx.AsyncClient, tenant: Tenant, admin_key: str
) -> None:
    assert (await client.get("/v1/account", headers=tenant.headers)).status_code == 200
    path = f"/v1/admin/accounts/{tenant.account_id}"
    disabled = await client.patch(path, json={"disabled": True}, headers=auth(admin_key))
    assert disabled.status_code == 200
    assert disabled.json()["disabled"] is True
    assert_problem(await client.get("/v1/account", headers=tenant.headers), 401, "unauthenticated")
    enabled = await client.patch(path, json={"disabled": False}, headers=auth(admin_key))
    assert enabled.json()["disabled"] is False
    assert (await client.get("/v1/account", headers=tenant.headers)).status_code == 200


async def test_the_system_account_cannot_be_disabled(
    client: httpx.AsyncClient, state: AppState, admin_key: str
) -> None:
    system = await system_account_id(state)
    response = await client.patch(
        f"/v1/admin/accounts/{system}", json={"disabled": True}, headers=auth(admin_key)
    )
    assert_problem(response, 403, "forbidden")
    assert (await client.get("/v1/admin/accounts", headers=auth(admin_key))).status_code == 200


@pytest.mark.parametrize("role", ["owner", "developer", "viewer"], ids=str)
async def test_admin_hands_out_tenant_keys(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, role: str
) -> None:
    response = await client.post(
        f"/v1/admin/accounts/{tenant.account_id}/api-keys",
        json={"name": role, "role": role},
        headers=auth(admin_key),
    )
    assert response.status_code == 201
    key = response.json()
    assert (key["account_id"], key["role"]) == (tenant.account_id, role)
    account = await client.get("/v1/account", headers=auth(key["secret"]))
    assert account.json()["id"] == tenant.account_id


async def test_admin_keys_exist_only_in_the_system_account(
    client: httpx.AsyncClient, state: AppState, admin_key: str, tenant: Tenant
) -> None:
    before = await row_counts(state.db)
    response = await client.post(
        f"/v1/admin/accounts/{tenant.account_id}/api-keys",
        json={"name": "x", "role": "admin"},
        headers=auth(admin_key),
    )
    assert_problem(response, 403, "forbidden")
    assert await row_counts(state.db) == before
    system = await system_account_id(state)
    second = await client.post(
        f"/v1/admin/accounts/{system}/api-keys",
        json={"name": "ops", "role": "admin"},
        headers=auth(admin_key),
    )
    assert second.status_code == 201
    assert (await client.get("/v1/admin/accounts", headers=auth(second.json()["secret"]))).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"), ADMIN_ROUTES, ids=[f"{method} {path}" for method, path, _ in ADMIN_ROUTES]
)
async def test_admin_routes_refuse_tenant_owners(
    client: httpx.AsyncClient,
    state: AppState,
    role_keys: RoleKeys,
    tenant: Tenant,
    method: str,
    path: str,
    body: dict[str, object] | None,
) -> None:
    before = await row_counts(state.db)
    for key in role_keys.values():
        response = await client.request(
            method, path.format(account=tenant.account_id), json=body, headers=auth(key)
        )
        assert_problem(response, 403, "forbidden")
    assert await row_counts(state.db) == before
    account = (await client.get("/v1/account", headers=tenant.headers)).json()
    assert account["disabled"] is False


async def test_an_admin_jwt_reaches_admin_routes(client: httpx.AsyncClient, admin_key: str) -> None:
    token = (await client.post("/v1/auth/token", json={}, headers=auth(admin_key))).json()["access_token"]
    created = await client.post("/v1/admin/accounts", json={"name": "via-jwt"}, headers=bearer(token))
    assert created.status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x" * 201},
        {"name": "tab\there"},
        {"name": "ok", "plan": "gold"},
        {"name": 1},
    ],
    ids=["missing", "empty", "too-long", "control-char", "unknown-field", "wrong-type"],
)
async def test_invalid_account_is_a_422(
    client: httpx.AsyncClient, state: AppState, admin_key: str, body: dict[str, object]
) -> None:
    before = await row_counts(state.db)
    assert_problem(
        await client.post("/v1/admin/accounts", json=body, headers=auth(admin_key)), 422, "validation_failed"
    )
    assert await row_counts(state.db) == before

"""``/v1/api-keys``: shown once, stored as a hash, prefix visible, scopes, expiry, rotation, revocation."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from neo_service_layer.api.state import AppState
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import ApiKey
from neo_service_layer.services.accounts.api_keys import hash_secret
from tests.api.conftest import RoleKeys
from tests.api.helpers import assert_problem, auth, create_key, new_secret, row_counts
from tests.conftest import Tenant


async def stored_key(state: AppState, key_id: str) -> ApiKey:
    async with state.db.session() as session:
        return (await session.execute(select(ApiKey).where(ApiKey.id == key_id))).scalar_one()


async def test_create_shows_the_secret_once_and_stores_only_its_hash(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant
) -> None:
    response = await create_key(client, tenant.owner_key, name="ci", role="developer", scopes=["keys:write"])
    assert response.status_code == 201
    created = response.json()
    secret = created["secret"]
    assert secret.startswith(created["prefix"] + "_")
    assert created["prefix"].startswith("nsl_")
    assert created["account_id"] == tenant.account_id
    assert (created["role"], created["scopes"], created["name"]) == ("developer", ["keys:write"], "ci")

    row = await stored_key(state, created["id"])
    assert row.secret_hash == hash_secret(secret)
    assert secret not in repr(vars(row))

    for response in (
        await client.get(f"/v1/api-keys/{created['id']}", headers=tenant.headers),
        await client.get("/v1/api-keys", headers=tenant.headers),
    ):
        assert response.status_code == 200
        assert secret not in response.text
        assert created["prefix"] in response.text
        assert "secret" not in response.text
    # The key authenticates (the token route needs no scope).
    assert (await client.post("/v1/auth/token", json={}, headers=auth(secret))).status_code == 200


async def test_defaults_are_developer_with_all_scopes(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post("/v1/api-keys", json={"name": "plain"}, headers=tenant.headers)
    assert response.status_code == 201
    assert (response.json()["role"], response.json()["scopes"]) == ("developer", ["*"])


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        (["audit:read", "audit:read", "account:read"], ["account:read", "audit:read"]),
        (["*"], ["*"]),
        (["keys:write", "keys:read"], ["keys:read", "keys:write"]),
    ],
    ids=["deduplicated-and-sorted", "all", "read-and-write"],
)
async def test_scopes_are_normalized(
    client: httpx.AsyncClient, tenant: Tenant, scopes: list[str], expected: list[str]
) -> None:
    response = await create_key(client, tenant.owner_key, scopes=scopes)
    assert response.status_code == 201
    assert response.json()["scopes"] == expected


@pytest.mark.parametrize(
    "scopes",
    [[], ["nosuch:read"], ["audit:delete"], ["audit"], ["AUDIT:READ"], [""], ["x" * 65]],
    ids=["empty", "unknown-service", "unknown-action", "no-action", "uppercase", "blank", "oversized"],
)
async def test_invalid_scopes_are_a_422(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant, scopes: list[str]
) -> None:
    before = await row_counts(state.db)
    assert_problem(await create_key(client, tenant.owner_key, scopes=scopes), 422, "validation_failed")
    assert await row_counts(state.db) == before


@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/v1/audit", True), ("/v1/account", False), ("/v1/api-keys", False), ("/v1/account/members", False)],
    ids=["audit", "account", "api-keys", "members"],
)
async def test_scopes_limit_a_key_to_its_services(
    client: httpx.AsyncClient, tenant: Tenant, path: str, allowed: bool
) -> None:
    audit_only = await new_secret(client, tenant.owner_key, role="owner", scopes=["audit:read"])
    response = await client.get(path, headers=auth(audit_only))
    if allowed:
        assert response.status_code == 200
    else:
        body = assert_problem(response, 403, "missing_scope")
        assert body["scope"] == "account:read"


async def test_write_scope_implies_read(client: httpx.AsyncClient, tenant: Tenant) -> None:
    account_writer = await new_secret(client, tenant.owner_key, role="owner", scopes=["account:write"])
    assert (await client.get("/v1/account", headers=auth(account_writer))).status_code == 200
    assert_problem(await client.get("/v1/audit", headers=auth(account_writer)), 403, "missing_scope")


@pytest.mark.parametrize(
    ("requested", "status"),
    [(["account:read"], 201), (["account:write"], 201), (["audit:read"], 403), (["*"], 403)],
    ids=["subset", "same", "other-service", "everything"],
)
async def test_a_key_cannot_grant_scopes_it_does_not_hold(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant, requested: list[str], status: int
) -> None:
    limited = await new_secret(client, tenant.owner_key, role="owner", scopes=["account:write"])
    before = await row_counts(state.db)
    response = await create_key(client, limited, role="developer", scopes=requested)
    if status == 201:
        assert response.status_code == 201
        assert response.json()["scopes"] == requested
    else:
        assert_problem(response, 403, "missing_scope")
        assert await row_counts(state.db) == before


async def test_a_limited_key_cannot_rotate_a_broader_one(client: httpx.AsyncClient, tenant: Tenant) -> None:
    limited = await new_secret(client, tenant.owner_key, role="owner", scopes=["account:write"])
    broad = await create_key(client, tenant.owner_key, role="developer", scopes=["*"])
    response = await client.post(f"/v1/api-keys/{broad.json()['id']}/rotate", json={}, headers=auth(limited))
    assert_problem(response, 403, "missing_scope")


@pytest.mark.parametrize(
    ("role", "target_role", "status", "code"),
    [
        ("owner", "owner", 201, None),
        ("owner", "developer", 201, None),
        ("owner", "viewer", 201, None),
        ("owner", "admin", 403, "forbidden"),
        ("developer", "viewer", 403, "forbidden"),
        ("developer", "developer", 403, "forbidden"),
        ("viewer", "viewer", 403, "forbidden"),
    ],
    ids=lambda value: str(value),
)
async def test_who_may_create_which_key(
    client: httpx.AsyncClient,
    state: AppState,
    role_keys: RoleKeys,
    role: str,
    target_role: str,
    status: int,
    code: str | None,
) -> None:
    before = await row_counts(state.db)
    response = await create_key(client, role_keys[role], role=target_role)
    if code is None:
        assert response.status_code == status
        assert response.json()["role"] == target_role
    else:
        assert_problem(response, status, code)
        assert await row_counts(state.db) == before


@pytest.mark.parametrize("role", ["owner", "developer", "viewer"], ids=str)
async def test_every_tenant_role_can_list_keys(
    client: httpx.AsyncClient, role_keys: RoleKeys, role: str
) -> None:
    response = await client.get("/v1/api-keys", headers=auth(role_keys[role]))
    assert response.status_code == 200
    assert len(response.json()["items"]) == 3


@pytest.mark.parametrize("role", ["developer", "viewer"], ids=str)
async def test_only_owners_rotate_or_revoke(
    client: httpx.AsyncClient, role_keys: RoleKeys, tenant: Tenant, role: str
) -> None:
    target = await create_key(client, tenant.owner_key, role="viewer")
    key_id = target.json()["id"]
    for action in ("rotate", "revoke"):
        response = await client.post(
            f"/v1/api-keys/{key_id}/{action}", json={}, headers=auth(role_keys[role])
        )
        assert_problem(response, 403, "forbidden")
    assert (await client.get("/v1/account", headers=auth(target.json()["secret"]))).status_code == 200


@pytest.mark.parametrize(
    ("expires_at", "why"),
    [
        ("2000-01-01T00:00:00Z", "past"),
        ("2999-01-01T00:00:00", "no-offset"),
        ("9999-12-31T23:59:59-05:00", "beyond-year-9999-in-utc"),
        ("tomorrow", "not-a-date"),
    ],
    ids=lambda value: str(value),
)
async def test_invalid_expiry_is_a_422(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant, expires_at: str, why: str
) -> None:
    before = await row_counts(state.db)
    response = await client.post(
        "/v1/api-keys", json={"name": "k", "expires_at": expires_at}, headers=tenant.headers
    )
    assert_problem(response, 422, "validation_failed")
    assert await row_counts(state.db) == before


async def test_expiry_with_an_offset_is_stored_in_utc(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        "/v1/api-keys", json={"name": "k", "expires_at": "2999-06-01T12:00:00+02:00"}, headers=tenant.headers
    )
    assert response.status_code == 201
    assert datetime.fromisoformat(response.json()["expires_at"]) == datetime.fromisoformat(
        "2999-06-01T10:00:00Z"
    )


async def test_rotation_issues_a_successor_and_keeps_the_old_key_for_the_overlap(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant
) -> None:
    old = (
        await create_key(client, tenant.owner_key, name="svc", role="viewer", scopes=["audit:read"])
    ).json()
    started = utcnow()
    response = await client.post(
        f"/v1/api-keys/{old['id']}/rotate", json={"overlap_seconds": 3600}, headers=tenant.headers
    )
    assert response.status_code == 201
    new = response.json()
    assert new["id"] != old["id"]
    assert new["secret"] != old["secret"]
    assert (new["name"], new["role"], new["scopes"]) == ("svc", "viewer", ["audit:read"])
    for secret in (old["secret"], new["secret"]):
        assert (await client.get("/v1/audit", headers=auth(secret))).status_code == 200

    row = await stored_key(state, old["id"])
    assert row.replaced_by == new["id"]
    assert row.expires_at is not None
    assert started + timedelta(seconds=3600) <= row.expires_at <= utcnow() + timedelta(seconds=3600)

    again = await client.post(f"/v1/api-keys/{old['id']}/rotate", json={}, headers=tenant.headers)
    assert_problem(again, 409, "conflict")


async def test_rotation_without_overlap_retires_the_old_key_at_once(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    old = (await create_key(client, tenant.owner_key)).json()
    assert (await client.get("/v1/account", headers=auth(old["secret"]))).status_code == 200
    response = await client.post(
        f"/v1/api-keys/{old['id']}/rotate", json={"overlap_seconds": 0}, headers=tenant.headers
    )
    assert response.status_code == 201
    assert_problem(await client.get("/v1/account", headers=auth(old["secret"])), 401, "credential_expired")
    assert (await client.get("/v1/account", headers=auth(response.json()["secret"]))).status_code == 200


async def test_rotation_never_extends_an_earlier_expiry(client: httpx.AsyncClient, tenant: Tenant) -> None:
    expires = utcnow() + timedelta(minutes=5)
    old = (await create_key(client, tenant.owner_key, expires_at=expires)).json()
    response = await client.post(
        f"/v1/api-keys/{old['id']}/rotate", json={"overlap_seconds": 86400}, headers=tenant.headers
    )
    assert response.status_code == 201
    assert datetime.fromisoformat(response.json()["expires_at"]) == expires
    listed = await client.get(f"/v1/api-keys/{old['id']}", headers=tenant.headers)
    assert datetime.fromisoformat(listed.json()["expires_at"]) == expires


@pytest.mark.parametrize("overlap", [-1, 30 * 24 * 3600 + 1, "soon"], ids=["negative", "too-long", "type"])
async def test_invalid_overlap_is_a_422(client: httpx.AsyncClient, tenant: Tenant, overlap: object) -> None:
    old = (await create_key(client, tenant.owner_key)).json()
    response = await client.post(
        f"/v1/api-keys/{old['id']}/rotate", json={"overlap_seconds": overlap}, headers=tenant.headers
    )
    assert_problem(response, 422, "validation_failed")


async def test_revocation_is_immediate_and_idempotent(client: httpx.AsyncClient, tenant: Tenant) -> None:
    key = (await create_key(client, tenant.owner_key)).json()
    first = await client.post(f"/v1/api-keys/{key['id']}/revoke", headers=tenant.headers)
    assert first.status_code == 200
    assert first.json()["revoked_at"] is not None
    second = await client.post(f"/v1/api-keys/{key['id']}/revoke", headers=tenant.headers)
    assert second.status_code == 200
    assert second.json()["revoked_at"] == first.json()["revoked_at"]
    assert_problem(await client.get("/v1/account", headers=auth(key["secret"])), 401, "credential_revoked")
    rotate = await client.post(f"/v1/api-keys/{key['id']}/rotate", json={}, headers=tenant.headers)
    assert_problem(rotate, 409, "conflict")


async def test_a_key_can_revoke_itself(client: httpx.AsyncClient, tenant: Tenant) -> None:
    key = (await create_key(client, tenant.owner_key, role="owner")).json()
    response = await client.post(f"/v1/api-keys/{key['id']}/revoke", headers=auth(key["secret"]))
    assert response.status_code == 200
    assert_problem(await client.get("/v1/account", headers=auth(key["secret"])), 401, "credential_revoked")


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("GET", "", None), ("POST", "/rotate", {}), ("POST", "/revoke", None)],
    ids=["get", "rotate", "revoke"],
)
async def test_another_accounts_key_is_not_found(
    client: httpx.AsyncClient,
    state: AppState,
    tenant: Tenant,
    other_tenant: Tenant,
    method: str,
    suffix: str,
    body: dict[str, object] | None,
) -> None:
    theirs = (await create_key(client, other_tenant.owner_key, name="theirs")).json()
    before = await row_counts(state.db)
    response = await client.request(
        method, f"/v1/api-keys/{theirs['id']}{suffix}", json=body, headers=tenant.headers
    )
    problem = assert_problem(response, 404, "not_found")
    assert "theirs" not in response.text
    assert theirs["prefix"] not in str(problem)
    assert await row_counts(state.db) == before
    row = await stored_key(state, theirs["id"])
    assert (row.revoked_at, row.replaced_by) == (None, None)
    assert (await client.get("/v1/account", headers=auth(theirs["secret"]))).status_code == 200
    listed = (await client.get("/v1/api-keys", headers=tenant.headers)).json()["items"]
    assert theirs["id"] not in {item["id"] for item in listed}


@pytest.mark.parametrize(
    "key_id",
    ["nope", "key_", "KEY_01", "key_01%00", "key_01%20", "key_" + "0" * 61],
    ids=["word", "empty", "case", "nul", "space", "long"],
)
async def test_malformed_key_ids_are_a_422(client: httpx.AsyncClient, tenant: Tenant, key_id: str) -> None:
    response = await client.get(f"/v1/api-keys/{key_id}", headers=tenant.headers)
    assert_problem(response, 422, "validation_failed")


async def test_an_owner_cannot_revoke_a_key_above_their_role(
    client: httpx.AsyncClient, state: AppState, admin_key: str
) -> None:
    """In the system account, an owner key sits below the admin keys it must not be able to switch off."""
    async with state.db.session() as session:
        admin_row = (await session.execute(select(ApiKey))).scalar_one()
    owner = await client.post(
        f"/v1/admin/accounts/{admin_row.account_id}/api-keys",
        json={"name": "ops owner", "role": "owner"},
        headers=auth(admin_key),
    )
    assert owner.status_code == 201
    response = await client.post(f"/v1/api-keys/{admin_row.id}/revoke", headers=auth(owner.json()["secret"]))
    assert_problem(response, 403, "forbidden")
    assert (await client.get("/v1/admin/accounts", headers=auth(admin_key))).status_code == 200

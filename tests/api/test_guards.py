"""Route declarations (``api.guards``): requirements checked before the request is validated, replays only
for callers who meet the requirement, idempotency on every route that creates, mistakes that fail at
import."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from neo_service_layer.api.app import create_app
from neo_service_layer.api.context import RequestContext
from neo_service_layer.api.guards import CredentialCtx, Requires, audited, idempotent
from neo_service_layer.api.idempotency import idempotency
from neo_service_layer.api.state import AppState
from neo_service_layer.config import Settings
from neo_service_layer.errors import Conflict
from neo_service_layer.services.accounts.principal import Requirement
from neo_service_layer.services.accounts.scopes import READ, WRITE
from tests.api.conftest import RoleKeys
from tests.api.helpers import assert_problem, audit_entries, auth, dependency_calls, new_secret, row_counts
from tests.conftest import Tenant

# The routes that take Idempotency-Key: every POST that creates (201), and the PUT and rotation that
# create versions. Written out, so that a route losing (or gaining) it is a decision.
IDEMPOTENT = {
    "admin.accounts.create",
    "admin.api_keys.create",
    "account.members.create",
    "account.master_key.rotate",
    "api_keys.create",
    "api_keys.rotate",
    "keys.create",
    "keys.restore",
    "keys.rotate",
    "secrets.write",
    "secrets.grants.create",
    "randomness.generate",
    "randomness.generate_batch",
    "oracle.request",
    "feeds.create",
    "functions.create",
    "functions.run",
}


class Out(BaseModel):
    id: str


async def _no_ctx() -> Out:
    return Out(id="x")


async def _with_ctx(ctx: CredentialCtx) -> Out:
    return Out(id="x")


async def _taken(ctx: CredentialCtx, idempotency: str) -> Out:
    return Out(id=idempotency)


def _made(out: Out) -> dict[str, object]:
    return {"made": out.id}


def _audited_above_idempotent() -> object:
    # mypy refuses it too (the idempotent endpoint may answer a stored JSONResponse); this is the
    # run-time check, for endpoints mypy does not see through.
    return audited(_made)(idempotent()(_with_ctx))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("declare", "error"),
    [
        pytest.param(lambda: Requirement("kyes", WRITE), ValueError, id="unknown-service"),
        pytest.param(lambda: Requirement("keys", "delete"), ValueError, id="unknown-action"),
        pytest.param(lambda: Requirement("keys"), ValueError, id="service-without-action"),
        pytest.param(lambda: Requirement(action=READ), ValueError, id="action-without-service"),
        pytest.param(lambda: Requirement("keys", READ, platform=True), ValueError, id="scope-and-platform"),
        pytest.param(lambda: Requires("kyes", READ), ValueError, id="requires-unknown-service"),
        pytest.param(lambda: idempotent()(_no_ctx), TypeError, id="idempotent-without-ctx"),
        pytest.param(lambda: audited(_made)(_no_ctx), TypeError, id="audited-without-ctx"),
        pytest.param(lambda: idempotent()(_taken), TypeError, id="idempotency-parameter-taken"),
        pytest.param(_audited_above_idempotent, TypeError, id="audited-above-idempotent"),
    ],
)
def test_a_mistaken_declaration_fails_when_the_module_is_imported(
    declare: Callable[[], object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        declare()


def test_the_routes_that_take_an_idempotency_key() -> None:
    app = create_app(Settings(data_dir=Path("/nonexistent")))
    routes = [c.original_route for c in iter_route_contexts(app.routes)]
    api_routes = [route for route in routes if isinstance(route, APIRoute)]
    idempotent_routes = {r.name for r in api_routes if idempotency in set(dependency_calls(r.dependant))}
    assert idempotent_routes == IDEMPOTENT
    assert {r.name for r in api_routes if r.status_code == 201} <= IDEMPOTENT  # every route that creates
    # The header is in the spec (clients send it), on exactly these operations.
    spec = app.openapi()["paths"]
    with_header = {
        operation["operationId"]
        for item in spec.values()
        for operation in item.values()
        if any(param["name"] == "Idempotency-Key" for param in operation.get("parameters", []))
    }
    assert len(with_header) == len(IDEMPOTENT)


@pytest.mark.parametrize(
    ("url", "body", "refused"),
    [
        pytest.param(
            "/v1/api-keys",
            {"name": "ci", "role": "viewer"},
            {"developer": "forbidden", "viewer": "forbidden"},
            id="api-key",
        ),
        pytest.param(
            "/v1/keys", {"name": "signer", "type": "ed25519"}, {"viewer": "forbidden"}, id="signing-key"
        ),
    ],
)
async def test_a_replay_is_only_for_callers_who_may_make_the_request(
    client: httpx.AsyncClient,
    state: AppState,
    tenant: Tenant,
    role_keys: RoleKeys,
    url: str,
    body: dict[str, Any],
    refused: dict[str, str],
) -> None:
    """The attack: a weaker credential of the same account sends the Idempotency-Key and body of an
    owner's request, to be handed the stored response (ids, or an API key's metadata) it could not get
    by asking. The requirement is checked before the replay: a 403, and nothing replayed."""
    key = {"Idempotency-Key": "owner-only"}
    first = await client.post(url, json=body, headers={**auth(role_keys["owner"]), **key})
    assert first.status_code == 201, first.text
    narrow = await new_secret(client, tenant.owner_key, name="narrow", role="owner", scopes=["audit:read"])
    attempts = {**{role: role_keys[role] for role in refused}, "owner without the scope": narrow}
    expected = {**refused, "owner without the scope": "missing_scope"}
    counts = await row_counts(state.db)
    for who, secret in attempts.items():
        response = await client.post(url, json=body, headers={**auth(secret), **key})
        assert_problem(response, 403, expected[who])
        assert "idempotent-replayed" not in response.headers
        assert first.json()["id"] not in response.text
    assert await row_counts(state.db) == counts
    # The owner still gets the replay: the record was there all along.
    replay = await client.post(url, json=body, headers={**auth(role_keys["owner"]), **key})
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]


async def test_the_requirement_is_checked_before_the_body_is_validated(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant, role_keys: RoleKeys
) -> None:
    """A caller who may not write learns nothing of what a valid body would be: 403, not 422, audited as
    denied; a caller who may gets the validation error."""
    invalid = {"name": "x", "type": "no-such-type", "unexpected": True}
    refused = await client.post("/v1/keys", json=invalid, headers=auth(role_keys["viewer"]))
    assert_problem(refused, 403, "forbidden")
    entry = (await audit_entries(state.db, tenant.account_id))[-1]
    assert (entry.action, entry.outcome, entry.status_code) == ("keys.create", "denied", 403)
    assert entry.details == {"code": "forbidden"}
    checked = await client.post("/v1/keys", json=invalid, headers=auth(role_keys["developer"]))
    assert_problem(checked, 422, "validation_failed")


async def test_audited_details_are_recorded_only_when_the_route_succeeds(
    app: FastAPI, client: httpx.AsyncClient, state: AppState, tenant: Tenant
) -> None:
    @audited(_made)
    async def make(ctx: Annotated[RequestContext, Requires("keys", WRITE)], fail: bool = False) -> Out:
        if fail:
            raise Conflict("refused")
        return Out(id="obj_1")

    app.add_api_route("/test/make", make, methods=["POST"], name="test.make")
    assert (await client.post("/test/make", headers=tenant.headers)).json() == {"id": "obj_1"}
    assert_problem(await client.post("/test/make?fail=true", headers=tenant.headers), 409, "conflict")
    entries = [e for e in await audit_entries(state.db, tenant.account_id) if e.action == "test.make"]
    assert [(e.outcome, e.details) for e in entries] == [
        ("success", {"made": "obj_1"}),
        ("denied", {"code": "conflict"}),
    ]

"""Authentication: API keys (X-API-Key or Bearer), operator JWTs (RFC 7519, EdDSA per RFC 8037), JWKS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import update

from neo_service_layer.api.auth_failures import AUDIT_ACTION as AUTH_FAILED
from neo_service_layer.api.state import AppState
from neo_service_layer.config import Settings
from neo_service_layer.constants import JWT_KEY_FILENAME
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import ApiKey
from neo_service_layer.db.session import Database
from neo_service_layer.services.accounts.api_keys import split_key
from neo_service_layer.services.accounts.tokens import ALGORITHM, AUDIENCE
from tests.api.helpers import assert_problem, audit_entries, auth, bearer, create_key, new_secret, row_counts
from tests.conftest import Tenant


async def issue_token(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> str:
    response = await client.post("/v1/auth/token", json=body, headers=headers)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["token_type"] == "Bearer"
    token: str = payload["access_token"]
    return token


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key((settings.data_dir / JWT_KEY_FILENAME).read_bytes(), None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


@pytest.mark.parametrize(
    "style", ["x-api-key", "bearer", "bearer-lowercase-scheme"], ids=["x-api-key", "bearer", "bearer-lower"]
)
async def test_api_key_is_accepted_in_either_header(
    client: httpx.AsyncClient, tenant: Tenant, style: str
) -> None:
    headers = {
        "x-api-key": {"X-API-Key": tenant.owner_key},
        "bearer": {"Authorization": f"Bearer {tenant.owner_key}"},
        "bearer-lowercase-scheme": {"Authorization": f"bearer {tenant.owner_key}"},
    }[style]
    response = await client.get("/v1/account", headers=headers)
    assert response.status_code == 200
    assert response.json()["id"] == tenant.account_id


async def test_missing_credentials_are_a_401_with_a_challenge(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await client.get("/v1/account")
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "not-a-key"},
        {"X-API-Key": "nsl_"},
        {"X-API-Key": "nsl_abc"},
        {"X-API-Key": "nsl__secret"},
        {"X-API-Key": "nsl_abc_"},
        {"X-API-Key": "nsl_ab-c_secret"},
        {"X-API-Key": "nsl_abc_" + "x" * 600},
        {"X-API-Key": "nsl_000000000000_unknownsecretunknownsecret"},
        {"Authorization": "Bearer not.a.jwt"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer nsl_000000000000_unknownsecret"},
    ],
    ids=[
        "garbage",
        "prefix-only",
        "no-secret",
        "empty-id",
        "empty-secret",
        "bad-id-chars",
        "oversized",
        "unknown-key",
        "garbage-jwt",
        "empty-bearer",
        "basic-auth",
        "unknown-key-as-bearer",
    ],
)
async def test_bad_credentials_are_a_401_and_write_nothing(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant, headers: dict[str, str]
) -> None:
    before = await row_counts(state.db)
    audit_before = await request_entries(state.db)
    response = await client.post("/v1/api-keys", json={"name": "x"}, headers=headers)
    assert_problem(response, 401, "unauthenticated")
    assert await row_counts(state.db) == before
    assert await request_entries(state.db) == audit_before


async def request_entries(db: Database) -> int:
    """Audit entries of requests: refused credentials are audited per minute, in aggregate, apart
    (tests/api/test_auth_failures.py)."""
    return sum(entry.action != AUTH_FAILED for entry in await audit_entries(db))


async def test_wrong_secret_for_a_real_prefix_is_refused(client: httpx.AsyncClient, tenant: Tenant) -> None:
    prefix = split_key(tenant.owner_key)  # the secret part may itself contain "_" (token_urlsafe)
    secret = tenant.owner_key.removeprefix(f"{prefix}_")
    forged = f"{prefix}_{secret[::-1]}"
    assert forged != tenant.owner_key
    assert_problem(await client.get("/v1/account", headers=auth(forged)), 401, "unauthenticated")


async def test_revoked_key_is_refused_at_once(client: httpx.AsyncClient, tenant: Tenant) -> None:
    secret = await new_secret(client, tenant.owner_key)
    # Used once, so the key sits in the auth cache: revocation must clear it.
    assert (await client.get("/v1/account", headers=auth(secret))).status_code == 200
    listed = (await client.get("/v1/api-keys", headers=tenant.headers)).json()["items"]
    target = next(k for k in listed if secret.startswith(k["prefix"] + "_"))
    response = await client.post(f"/v1/api-keys/{target['id']}/revoke", headers=tenant.headers)
    assert response.status_code == 200
    assert_problem(await client.get("/v1/account", headers=auth(secret)), 401, "credential_revoked")


async def test_expired_key_is_refused(client: httpx.AsyncClient, state: AppState, tenant: Tenant) -> None:
    created = await create_key(client, tenant.owner_key, expires_at=utcnow() + timedelta(hours=1))
    assert created.status_code == 201
    async with state.db.transaction() as session:
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == created.json()["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    response = await client.get("/v1/account", headers=auth(created.json()["secret"]))
    assert_problem(response, 401, "credential_expired")


# --- JWT bearer tokens -------------------------------------------------------------------------


async def test_token_works_as_bearer_for_the_same_account(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = await issue_token(client, tenant.headers, ttl_seconds=120)
    response = await client.get("/v1/account", headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["id"] == tenant.account_id
    claims = claims_of(token)
    assert claims["exp"] - claims["iat"] == 120
    assert claims["aud"] == AUDIENCE


async def test_token_carries_no_more_than_the_issuing_key(client: httpx.AsyncClient, tenant: Tenant) -> None:
    narrow = await new_secret(client, tenant.owner_key, role="viewer", scopes=["audit:read"])
    token = await issue_token(client, auth(narrow))
    claims = claims_of(token)
    assert claims["nsl_account"] == tenant.account_id
    assert claims["nsl_role"] == "viewer"
    assert claims["nsl_scopes"] == ["audit:read"]
    assert (await client.get("/v1/audit", headers=bearer(token))).status_code == 200
    assert_problem(await client.get("/v1/account", headers=bearer(token)), 403, "missing_scope")
    assert_problem(await create_key(client, narrow, role="viewer"), 403, "forbidden")
    # A token exchanged for a token keeps the same grant and the same subject.
    second = await issue_token(client, bearer(token))
    assert claims_of(second)["nsl_scopes"] == ["audit:read"]
    assert claims_of(second)["sub"] == claims["sub"]
    assert claims["sub"].startswith("api_key:key_")


async def test_token_issuance_is_audited_without_the_token(
    client: httpx.AsyncClient, state: AppState, tenant: Tenant
) -> None:
    token = await issue_token(client, tenant.headers, ttl_seconds=60)
    entry = (await audit_entries(state.db, tenant.account_id))[-1]
    assert entry.action == "auth.token"
    assert entry.details == {"ttl_seconds": 60}
    assert token not in json.dumps(entry.details)


@pytest.mark.parametrize(
    ("ttl", "why"),
    [(0, "zero"), (-5, "negative"), (3601, "above-max"), (24 * 3600 + 1, "above-schema-max"), ("x", "type")],
    ids=lambda value: str(value),
)
async def test_token_ttl_out_of_bounds_is_a_422(
    client: httpx.AsyncClient, tenant: Tenant, ttl: object, why: str
) -> None:
    response = await client.post("/v1/auth/token", json={"ttl_seconds": ttl}, headers=tenant.headers)
    assert_problem(response, 422, "validation_failed")


async def test_ttl_at_the_configured_max_is_accepted(
    client: httpx.AsyncClient, tenant: Tenant, settings: Settings
) -> None:
    token = await issue_token(client, tenant.headers, ttl_seconds=settings.jwt_max_ttl_seconds)
    claims = claims_of(token)
    assert claims["exp"] - claims["iat"] == settings.jwt_max_ttl_seconds


async def test_expired_token_is_a_401_credential_expired(
    client: httpx.AsyncClient, tenant: Tenant, settings: Settings
) -> None:
    token = await issue_token(client, tenant.headers)
    claims = claims_of(token)
    now = utcnow()
    claims.update(
        iat=now - timedelta(minutes=10), nbf=now - timedelta(minutes=10), exp=now - timedelta(seconds=1)
    )
    expired = jwt.encode(
        claims,
        signing_key(settings),
        algorithm=ALGORITHM,
        headers={"kid": jwt.get_unverified_header(token)["kid"]},
    )
    assert_problem(await client.get("/v1/account", headers=bearer(expired)), 401, "credential_expired")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "forgery",
    [
        "payload-edited",
        "signature-edited",
        "other-key",
        "alg-none",
        "hs256-with-public-key",
        "wrong-audience",
    ],
    ids=str,
)
async def test_tampered_or_foreign_token_is_a_401(
    client: httpx.AsyncClient, tenant: Tenant, settings: Settings, forgery: str
) -> None:
    token = await issue_token(client, tenant.headers)
    header_b64, payload_b64, signature_b64 = token.split(".")
    claims = claims_of(token)
    kid = jwt.get_unverified_header(token)["kid"]
    if forgery == "payload-edited":
        claims["nsl_role"] = "admin"
        forged = f"{header_b64}.{_b64url(json.dumps(claims).encode())}.{signature_b64}"
    elif forgery == "signature-edited":
        flipped = "A" if signature_b64[0] != "A" else "B"
        forged = f"{header_b64}.{payload_b64}.{flipped}{signature_b64[1:]}"
    elif forgery == "other-key":
        forged = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm=ALGORITHM, headers={"kid": kid})
    elif forgery == "alg-none":
        forged = f"{_b64url(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{payload_b64}."
    elif forgery == "hs256-with-public-key":
        public = (
            signing_key(settings)
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
        mac_header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        signing_input = f"{mac_header}.{payload_b64}".encode()
        forged = (
            f"{mac_header}.{payload_b64}.{_b64url(hmac.new(public, signing_input, hashlib.sha256).digest())}"
        )
    else:
        claims["aud"] = "someone-else"
        forged = jwt.encode(claims, signing_key(settings), algorithm=ALGORITHM, headers={"kid": kid})
    assert forged != token
    assert_problem(await client.get("/v1/account", headers=bearer(forged)), 401, "unauthenticated")


async def test_jwks_verifies_issued_tokens(client: httpx.AsyncClient, tenant: Tenant) -> None:
    token = await issue_token(client, tenant.headers)
    response = await client.get("/v1/auth/jwks")
    assert response.status_code == 200
    jwks = jwt.PyJWKSet.from_dict(response.json())
    kid = jwt.get_unverified_header(token)["kid"]
    (key,) = [k for k in jwks.keys if k.key_id == kid]
    claims = jwt.decode(token, key=key, algorithms=[ALGORITHM], audience=AUDIENCE)
    assert claims["nsl_account"] == tenant.account_id
    published = response.json()["keys"][0]
    assert published["kty"] == "OKP"
    assert published["crv"] == "Ed25519"
    assert "d" not in published  # the private part


async def test_token_dies_with_its_key(client: httpx.AsyncClient, tenant: Tenant) -> None:
    secret = await new_secret(client, tenant.owner_key)
    token = await issue_token(client, auth(secret))
    assert (await client.get("/v1/account", headers=bearer(token))).status_code == 200
    key_id = claims_of(token)["nsl_cred"]
    revoked = await client.post(f"/v1/api-keys/{key_id}/revoke", headers=tenant.headers)
    assert revoked.status_code == 200
    assert_problem(await client.get("/v1/account", headers=bearer(token)), 401, "credential_revoked")


async def test_token_stops_working_when_the_account_is_disabled(
    client: httpx.AsyncClient, tenant: Tenant, admin_key: str
) -> None:
    token = await issue_token(client, tenant.headers)
    disabled = await client.patch(
        f"/v1/admin/accounts/{tenant.account_id}", json={"disabled": True}, headers=auth(admin_key)
    )
    assert disabled.status_code == 200
    assert_problem(await client.get("/v1/account", headers=bearer(token)), 401, "unauthenticated")

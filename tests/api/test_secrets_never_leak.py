"""No API key secret and no byte of the JWT signing key reaches the database, the logs or a response.

Keys are created, rotated, revoked and replayed; a JWT is issued; every route is called (successes and
failures). Then the SQLite files, every log line (structlog JSON, as in production) and every response
body and header are searched for each secret in several encodings. The single response that shows a
key's secret, by design, is the only place that key may appear.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from neo_service_layer.constants import JWT_KEY_FILENAME
from neo_service_layer.services.accounts.api_keys import split_key
from tests.api.helpers import auth, bearer
from tests.leaks import LeakScan, LeakScanner, encodings


def private_key_forms(data_dir: Path) -> set[bytes]:
    pem = (data_dir / JWT_KEY_FILENAME).read_bytes()
    key = serialization.load_pem_private_key(pem, None)
    assert isinstance(key, Ed25519PrivateKey)
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    body_lines = {line for line in pem.splitlines() if line and not line.startswith(b"-----")}
    return encodings(raw) | encodings(der) | body_lines | {pem}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_no_secret_leaks(leak_scan: LeakScanner) -> None:
    async with leak_scan("json") as scan:
        secrets = [scan.admin_key, *await exercise_every_route(scan)]
    private_forms = private_key_forms(scan.state.settings.data_dir)
    assert len(secrets) == 5
    assert len(private_forms) >= 8
    assert b'"event": "request"' in scan.logs  # the JSON access log was captured
    assert len(scan.responses) >= 30

    for secret in secrets:
        # The whole key, and its secret part alone (which may itself contain "_": token_urlsafe).
        forms = {secret.encode(), secret.removeprefix(f"{split_key(secret)}_").encode()}
        scan.assert_never_seen("an API key secret", forms, shown=secret.encode())
    scan.assert_never_seen("the JWT signing key", private_forms)
    # A positive control: the owner's key is found in the one response that showed it, once allowed nowhere.
    with pytest.raises(AssertionError, match="an API key secret is in response"):
        scan.assert_never_seen("an API key secret", {secrets[1].encode()})


async def exercise_every_route(scan: LeakScan) -> list[str]:
    """Call every route, successes and failures; return the secrets created on the way."""
    client, admin = scan.client, scan.admin_key
    account = (await client.post("/v1/admin/accounts", json={"name": "leaky"}, headers=auth(admin))).json()
    owner = scan.shown_once(
        await client.post(
            f"/v1/admin/accounts/{account['id']}/api-keys",
            json={"name": "o", "role": "owner"},
            headers=auth(admin),
        )
    )
    created = {"name": "dev", "role": "developer"}
    idem = {**auth(owner), "Idempotency-Key": "leak-1"}
    developer = scan.shown_once(await client.post("/v1/api-keys", json=created, headers=idem))
    assert (await client.post("/v1/api-keys", json=created, headers=idem)).json()["secret"] is None
    keys = (await client.get("/v1/api-keys", headers=auth(owner))).json()["items"]
    developer_id = next(k["id"] for k in keys if developer.startswith(k["prefix"] + "_"))
    successor = scan.shown_once(
        await client.post(
            f"/v1/api-keys/{developer_id}/rotate",
            json={"overlap_seconds": 60},
            headers={**auth(owner), "Idempotency-Key": "leak-2"},
        )
    )
    doomed = scan.shown_once(await client.post("/v1/api-keys", json={"name": "doomed"}, headers=auth(owner)))
    doomed_id = next(
        k["id"]
        for k in (await client.get("/v1/api-keys", headers=auth(owner))).json()["items"]
        if doomed.startswith(k["prefix"] + "_")
    )
    assert (await client.post(f"/v1/api-keys/{doomed_id}/revoke", headers=auth(owner))).status_code == 200
    assert (await client.get("/v1/account", headers=auth(doomed))).status_code == 401

    token = (await client.post("/v1/auth/token", json={"ttl_seconds": 300}, headers=auth(owner))).json()
    jwt_headers = bearer(token["access_token"])
    member = await client.post(
        "/v1/account/members", json={"email": "a@example.com", "role": "viewer"}, headers=jwt_headers
    )
    calls: list[tuple[str, str, dict[str, str], object]] = [
        ("GET", "/healthz", {}, None),
        ("GET", "/readyz", {}, None),
        ("GET", "/openapi.json", {}, None),
        ("GET", "/docs", {}, None),
        ("GET", "/v1/auth/jwks", {}, None),
        ("GET", "/v1/account", jwt_headers, None),
        ("GET", "/v1/account/members", jwt_headers, None),
        ("DELETE", f"/v1/account/members/{member.json()['id']}", jwt_headers, None),
        ("GET", "/v1/api-keys", jwt_headers, None),
        ("GET", f"/v1/api-keys/{developer_id}", jwt_headers, None),
        ("POST", f"/v1/api-keys/{developer_id}/rotate", jwt_headers, {}),
        ("GET", "/v1/audit", jwt_headers, None),
        ("GET", "/v1/audit", auth(admin), None),
        ("GET", "/v1/admin/accounts", auth(admin), None),
        ("GET", f"/v1/admin/accounts/{account['id']}", auth(admin), None),
        ("PATCH", f"/v1/admin/accounts/{account['id']}", auth(admin), {"disabled": False}),
        ("POST", "/v1/api-keys", auth(successor), {"name": "x", "role": "owner"}),
        ("POST", "/v1/api-keys", auth(owner), {"name": "x", "secret": owner}),
        ("GET", "/v1/account", auth(owner[:-1] + "x"), None),
        ("GET", "/v1/admin/accounts", jwt_headers, None),
        ("GET", "/metrics", {}, None),
    ]
    for method, path, headers, body in calls:
        response = await client.request(method, path, headers=headers, json=body)
        assert response.status_code < 500, (path, response.text)
    return [owner, developer, successor, doomed]

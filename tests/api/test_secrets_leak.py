"""No secret value and no private key byte reaches the database, the logs, /metrics or a response.

Known values are stored through the API, then every secrets route is called (successes and failures,
AMK rotation included) with logging at debug level in both formats. The SQLite files, every log line
and every response body and header are then searched for each value and key in several encodings.
The in-process enclave is the only place the values exist in the clear; the API gets sealed boxes.
"""

from __future__ import annotations

import logging

import httpx
import pytest

from neo_service_layer.client.attestation import verify_attestation
from neo_service_layer.client.secrets import RecipientKey, open_secret_value, seal_secret_value
from neo_service_layer.enclave.identity import derive_transport_key
from neo_service_layer.enclave.server import EnclaveServer
from tests.conftest import make_tenant
from tests.leaks import LeakScanner, encodings

VALUES = {
    "db-password": b"LEAKCANARY-db-password-7f3c9e21",
    "api-token": b"LEAKCANARY-api-token-\x00\x01binary\xfe",
    "rotated": b"LEAKCANARY-rotated-value-55aa",
}
UPDATED = b"LEAKCANARY-db-password-v2-c0ffee"


@pytest.mark.parametrize("log_format", ["json", "console"])
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_no_secret_value_or_private_key_leaks(
    leak_scan: LeakScanner, enclave_server: EnclaveServer, log_format: str, caplog: pytest.LogCaptureFixture
) -> None:
    reader = RecipientKey.generate()
    async with leak_scan(log_format) as scan:
        tenant = await make_tenant(scan.client, scan.admin_key, "leaky")
        other = await make_tenant(scan.client, scan.admin_key, "snoop")
        await exercise_every_route(scan.client, tenant.account_id, tenant.headers, other.headers, reader)

    p256, k1 = enclave_server.ctx.identity.secrets()
    private = {
        "identity p256": p256,
        "identity k1": k1,
        "transport x25519": bytes(derive_transport_key(p256, k1)),
        "recipient x25519": bytes(reader.private_key),
    }
    assert any(r.request.url.path == "/metrics" for r in scan.responses)
    assert len(scan.responses) >= 35
    # Positive controls: the scan sees what is stored and logged (names are not secret).
    assert any(b"db-password" in content for content in scan.database().values())
    assert b"/v1/secrets/db-password" in scan.logs
    assert any(r.levelno == logging.DEBUG for r in caplog.records)  # debug level really was on

    secrets = {
        **{f"value {name}": value for name, value in VALUES.items()},
        "value updated": UPDATED,
        **private,
    }
    for label, secret in secrets.items():
        scan.assert_never_seen(label, encodings(secret))


async def exercise_every_route(
    client: httpx.AsyncClient,
    account_id: str,
    headers: dict[str, str],
    other_headers: dict[str, str],
    reader: RecipientKey,
) -> None:
    """Every secrets route, successes and failures; the values are only checked after opening."""
    report = (await client.get("/v1/attestation")).json()
    identity = verify_attestation(report, allow_software=True)
    read_headers = {**headers, "X-NSL-Recipient-Key": reader.public_hex}

    ids: dict[str, str] = {}

    def sealed(name: str, value: bytes, cas: int = 1, account: str = account_id) -> str:
        secret_id = ids.get(name, "sec_01UNKNOWN") if cas > 0 else None
        return seal_secret_value(identity, account, name, value, cas=cas, secret_id=secret_id)

    for name, value in VALUES.items():
        response = await client.put(
            f"/v1/secrets/{name}", json={"sealed_value": sealed(name, value, cas=0)}, headers=headers
        )
        assert response.status_code == 201, response.text
        ids[name] = response.json()["id"]
    idem = {**headers, "Idempotency-Key": "leak-write"}
    body = {"sealed_value": sealed("db-password", UPDATED), "cas": 1}
    assert (await client.put("/v1/secrets/db-password", json=body, headers=idem)).status_code == 200
    assert (await client.put("/v1/secrets/db-password", json=body, headers=idem)).status_code == 200  # replay

    got = await client.get("/v1/secrets/db-password", headers=read_headers)
    assert open_secret_value(reader, got.json()["sealed_value"]) == UPDATED
    got = await client.get("/v1/secrets/db-password", params={"version": "1"}, headers=read_headers)
    assert open_secret_value(reader, got.json()["sealed_value"]) == VALUES["db-password"]
    rotated = await client.post("/v1/account/master-key/rotate", headers=headers)
    assert rotated.status_code == 200, rotated.text
    got = await client.get("/v1/secrets/rotated", params={"recipient": reader.public_hex}, headers=headers)
    assert open_secret_value(reader, got.json()["sealed_value"]) == VALUES["rotated"]

    grant = {"grantee_kind": "function", "grantee": "fetcher"}
    calls: list[tuple[str, str, dict[str, str], object]] = [
        ("GET", "/v1/secrets", headers, None),
        ("GET", "/v1/secrets/db-password/metadata", headers, None),
        ("PATCH", "/v1/secrets/db-password/metadata", headers, {"max_versions": 5, "cas_required": True}),
        (
            "PUT",
            "/v1/secrets/db-password",
            headers,
            {"sealed_value": sealed("db-password", UPDATED, cas=2)},
        ),  # cas req.
        (
            "PUT",
            "/v1/secrets/db-password",
            headers,
            {"sealed_value": sealed("db-password", UPDATED), "cas": 9},
        ),
        (
            "PUT",
            "/v1/secrets/api-token",
            headers,
            {"sealed_value": sealed("db-password", UPDATED)},
        ),  # other name
        ("PUT", "/v1/secrets/api-token", headers, {"sealed_value": sealed("api-token", UPDATED, 1, "acc_x")}),
        ("PUT", "/v1/secrets/db-password", headers, {**body, "cas": 2}),  # a replay: sealed_value_stale
        ("PUT", "/v1/secrets/api-token", headers, {"sealed_value": "%%%"}),
        ("GET", "/v1/secrets/db-password", headers, None),  # no recipient
        ("GET", "/v1/secrets/db-password?version=99", read_headers, None),
        ("POST", "/v1/secrets/api-token/grants", headers, grant),
        ("POST", "/v1/secrets/api-token/grants", headers, grant),
        ("GET", "/v1/secrets/api-token/grants", headers, None),
        ("DELETE", "/v1/secrets/api-token/grants/function/fetcher", headers, None),
        ("POST", "/v1/secrets/db-password/delete", headers, {"versions": [1]}),
        ("GET", "/v1/secrets/db-password?version=1", read_headers, None),
        ("POST", "/v1/secrets/db-password/undelete", headers, {"versions": [1]}),
        ("POST", "/v1/secrets/db-password/destroy", headers, {"versions": [1]}),
        ("GET", "/v1/secrets/db-password?version=1", read_headers, None),
        ("GET", "/v1/secrets/db-password", other_headers, None),
        ("GET", "/v1/secrets/db-password/metadata", other_headers, None),
        ("DELETE", "/v1/secrets/db-password", other_headers, None),
        ("GET", "/v1/secrets/api-token", read_headers, None),
        ("DELETE", "/v1/secrets/api-token", headers, None),
        ("POST", "/v1/account/master-key/rotate", headers, None),
        ("GET", "/v1/audit", headers, None),
        ("GET", "/metrics", {}, None),
    ]
    for method, path, call_headers, call_body in calls:
        response = await client.request(method, path, headers=call_headers, json=call_body)
        assert response.status_code < 500, (path, response.text)

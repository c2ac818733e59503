"""No private key material — of any key version, nor the account master keys that wrap it — appears in
the database, the logs (production JSON at debug level), any response body or header, or the metrics.

Keys of every type are created, rotated, used on every route (successes and failures), backed up,
deleted and restored. The plaintext material is then computed the only way it can be: by unwrapping
inside the test with the in-process enclave's own context; and every artefact is searched for it in
several encodings.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from neo_service_layer.db.base import utcnow
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.services.keys.models import Key, KeyVersion
from neo_service_layer.services.masterkeys.models import AccountMasterKey
from tests.api.helpers import NO_RATE_LIMITS
from tests.api.test_keys import LEGACY, TYPED_DATA
from tests.conftest import make_tenant
from tests.keys_helpers import KEY_TYPES, b64, private_material
from tests.leaks import LeakScanner, encodings


async def exercise(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[str, str]:
    """Every keys route, successes and failures; returns a key scheduled for deletion and its backup."""
    created = {}
    for key_type in KEY_TYPES:
        response = await client.post(
            "/v1/keys", json={"name": key_type, "type": key_type, "exportable": True}, headers=headers
        )
        assert response.status_code == 201, response.text
        created[key_type] = response.json()["id"]
    calls: list[tuple[str, str, Any]] = [("GET", "/v1/keys", None)]
    for key_id in created.values():
        url = f"/v1/keys/{key_id}"
        calls += [
            ("POST", f"{url}/rotate", None),
            ("GET", url, None),
            ("PATCH", url, {"min_decryption_version": 1}),
            ("GET", f"{url}/public-key", None),
            ("GET", f"{url}/public-key?format=pem&version=1", None),
            ("POST", f"{url}/sign", {"message": b64(b"m")}),
            ("POST", f"{url}/sign", {"digest": "11" * 32}),
            ("POST", f"{url}/verify", {"message": b64(b"m"), "signature": "00" * 64}),
            ("POST", f"{url}/encrypt", {"plaintext": b64(b"p"), "context": b64(b"c")}),
            ("POST", f"{url}/datakey", {}),
            ("POST", f"{url}/datakey", {"mode": "wrapped"}),
            ("POST", f"{url}/hmac", {"data": b64(b"d")}),
            ("POST", f"{url}/hmac/verify", {"data": b64(b"d"), "hmac": "nsl:v1:AAAA"}),
            ("POST", f"{url}/decrypt", {"ciphertext": "nsl:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
            ("POST", f"{url}/rewrap", {"ciphertext": "nsl:v9:AAAA"}),
            ("POST", f"{url}/neo/sign-transaction", {"transaction": b64(b"\x00"), "network_magic": 1}),
            ("POST", f"{url}/evm/sign-transaction", {"transaction": LEGACY}),
            ("POST", f"{url}/evm/sign-message", {"message": b64(b"hi")}),
            ("POST", f"{url}/evm/sign-typed-data", {"typed_data": TYPED_DATA}),
            ("POST", f"{url}/backup", None),
            ("POST", f"{url}/disable", None),
            ("POST", f"{url}/sign", {"message": b64(b"m")}),
            ("POST", f"{url}/enable", None),
            ("POST", f"{url}/schedule-deletion", {"pending_days": 6}),
            ("POST", f"{url}/schedule-deletion", {"pending_days": 7}),
            ("POST", f"{url}/cancel-deletion", None),
            ("POST", f"{url}/enable", None),
        ]
    calls += [
        ("POST", "/v1/keys/restore", {"backup": b64(b"NSLKB1 not a backup")}),
        ("GET", "/metrics", None),
    ]
    for method, path, body in calls:
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code < 500, (path, response.text)
    # A full encrypt/decrypt round trip, and a backup restored after its key was deleted.
    aes = f"/v1/keys/{created['aes256-gcm']}"
    ct = (await client.post(f"{aes}/encrypt", json={"plaintext": b64(b"x")}, headers=headers)).json()
    assert (await client.post(f"{aes}/decrypt", json=ct, headers=headers)).status_code == 422  # extra fields
    opened = await client.post(f"{aes}/decrypt", json={"ciphertext": ct["ciphertext"]}, headers=headers)
    assert opened.status_code == 200
    backup = (await client.post(f"/v1/keys/{created['secp256k1']}/backup", headers=headers)).json()["backup"]
    await client.post(
        f"/v1/keys/{created['secp256k1']}/schedule-deletion", json={"pending_days": 7}, headers=headers
    )
    return created["secp256k1"], backup


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_no_private_key_material_leaks(leak_scan: LeakScanner, enclave_server: EnclaveServer) -> None:
    secrets: set[bytes] = set()
    async with leak_scan("json", rate_limits=NO_RATE_LIMITS) as scan:
        client, db = scan.client, scan.state.db
        tenant = await make_tenant(client, scan.admin_key, "leaky")
        headers = tenant.headers
        deleted_key, backup = await exercise(client, headers)
        async with db.session() as session:
            versions = (await session.execute(select(KeyVersion.key_id, KeyVersion.version))).all()
            amks = (await session.execute(select(AccountMasterKey))).scalars().all()
        for key_id, version in versions:
            secrets.add(await private_material(db, enclave_server.ctx, tenant.account_id, key_id, version))
        for amk in amks:
            secrets.add(enclave_server.ctx.open_amk(amk.account_id, amk.version, amk.sealed))
        # The deleted key is purged and restored from its backup: same material, rewrapped.
        async with db.transaction() as session:
            await session.execute(
                update(Key).where(Key.id == deleted_key).values(deletion_date=utcnow() - timedelta(seconds=1))
            )
        restored = await client.post("/v1/keys/restore", json={"backup": backup}, headers=headers)
        assert restored.status_code == 201, restored.text
        assert (
            await client.post(f"/v1/keys/{deleted_key}/sign", json={"message": "AAAA"}, headers=headers)
        ).status_code == 200
        assert (await client.get("/metrics")).status_code == 200

    assert len(versions) == 2 * len(KEY_TYPES)
    assert len(secrets) == len(versions) + len(amks)
    assert all(len(secret) == 32 for secret in secrets)
    assert b'"event": "enclave op"' in scan.logs  # the enclave's debug log was captured
    assert b'"event": "request"' in scan.logs
    assert len(scan.responses) > 150
    for secret in secrets:
        scan.assert_never_seen("private key material", encodings(secret))

"""No API key secret and no byte of the JWT signing key reaches the database, the logs or a response.

Keys are created, rotated, revoked and replayed; a JWT is issued; every route is called (successes and
failures). Then the SQLite files, every log line (structlog JSON, as in production) and every response
body and header are searched for each secret in several encodings. The single response that shows a
key's secret, by design, is the only place that key may appear.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from neo_service_layer.api.app import create_app
from neo_service_layer.config import Settings
from neo_service_layer.constants import JWT_KEY_FILENAME
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.logging import configure_logging
from neo_service_layer.services.accounts.api_keys import split_key
from neo_service_layer.services.accounts.service import bootstrap
from tests.api.helpers import auth, bearer, encodings


@dataclass
class Recorder:
    """Every response seen, and which one revealed which secret."""

    responses: list[httpx.Response] = field(default_factory=list)
    revealed_by: dict[str, int] = field(default_factory=dict)

    async def hook(self, response: httpx.Response) -> None:
        await response.aread()
        self.responses.append(response)

    def reveal(self, response: httpx.Response) -> str:
        assert response.status_code == 201, response.text
        secret: str = response.json()["secret"]
        assert secret
        self.revealed_by[secret] = len(self.responses) - 1
        return secret


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
async def test_no_secret_leaks(
    tmp_path: Path,
    database_url: str,
    restore_logging: None,
    enclave_server: EnclaveServer,
    enclave_socket: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Production logging (structlog JSON), at debug level, on the stderr that capsys captures now.
    configure_logging("debug", "json")
    logging.getLogger().addHandler(caplog.handler)
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        log_format="json",
        enclave_socket=enclave_socket,
    )
    app = create_app(settings)
    recorder = Recorder()
    secrets: list[str] = []
    async with app.router.lifespan_context(app):
        async with app.state.nsl.db.transaction() as session:
            issued = await bootstrap(session)
        assert issued is not None
        admin = issued.plaintext
        secrets.append(admin)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://nsl.test", event_hooks={"response": [recorder.hook]}
        ) as client:
            secrets.extend(await exercise_every_route(client, recorder, admin))
    private_forms = private_key_forms(settings.data_dir)
    assert len(secrets) == 5
    assert len(private_forms) >= 8

    db_files = {
        path.name: path.read_bytes() for path in Path(database_url.split("///")[1]).parent.glob("nsl.db*")
    }
    captured = capsys.readouterr()
    logs = (captured.err + captured.out + "\n".join(r.getMessage() for r in caplog.records)).encode()
    assert b'"event": "request"' in logs  # the JSON access log was captured
    assert len(recorder.responses) >= 30

    for secret in secrets:
        # The whole key, and its secret part alone (which may itself contain "_": token_urlsafe).
        forms = {secret.encode(), secret.removeprefix(f"{split_key(secret)}_").encode()}
        for name, content in db_files.items():
            assert not any(form in content for form in forms), f"an API key secret is in {name}"
        assert not any(form in logs for form in forms), "an API key secret is in the logs"
        for index, response in enumerate(recorder.responses):
            if recorder.revealed_by.get(secret) == index:
                continue
            seen = response.content + str(response.headers.raw).encode()
            assert not any(form in seen for form in forms), f"secret in {response.request.url.path}"
    for form in private_forms:
        for name, content in db_files.items():
            assert form not in content, f"the JWT signing key is in {name}"
        assert form not in logs, "the JWT signing key is in the logs"
        for response in recorder.responses:
            assert form not in response.content, f"the JWT signing key is in {response.request.url.path}"


async def exercise_every_route(client: httpx.AsyncClient, recorder: Recorder, admin: str) -> list[str]:
    """Call every route, successes and failures; return the secrets created on the way."""
    account = (await client.post("/v1/admin/accounts", json={"name": "leaky"}, headers=auth(admin))).json()
    owner = recorder.reveal(
        await client.post(
            f"/v1/admin/accounts/{account['id']}/api-keys",
            json={"name": "o", "role": "owner"},
            headers=auth(admin),
        )
    )
    created = {"name": "dev", "role": "developer"}
    idem = {**auth(owner), "Idempotency-Key": "leak-1"}
    developer = recorder.reveal(await client.post("/v1/api-keys", json=created, headers=idem))
    assert (await client.post("/v1/api-keys", json=created, headers=idem)).json()["secret"] is None
    keys = (await client.get("/v1/api-keys", headers=auth(owner))).json()["items"]
    developer_id = next(k["id"] for k in keys if developer.startswith(k["prefix"] + "_"))
    successor = recorder.reveal(
        await client.post(
            f"/v1/api-keys/{developer_id}/rotate",
            json={"overlap_seconds": 60},
            headers={**auth(owner), "Idempotency-Key": "leak-2"},
        )
    )
    doomed = recorder.reveal(await client.post("/v1/api-keys", json={"name": "doomed"}, headers=auth(owner)))
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

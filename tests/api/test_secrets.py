"""``/v1/secrets`` and ``/v1/account/master-key/rotate`` through HTTP, on SQLite and PostgreSQL, with the
real in-process enclave. Values are sealed by the test (the client) and opened by the test: the API
only ever handles sealed boxes and ciphertext.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import nacl.public
import pytest
from sqlalchemy import select

from neo_service_layer.api.state import AppState
from neo_service_layer.client.attestation import VerifiedIdentity, verify_attestation, verify_result
from neo_service_layer.client.secrets import RecipientKey, open_secret_value, seal_secret_value
from neo_service_layer.enclave.canonical import b64decode, b64encode, canonical_json
from neo_service_layer.enclave.handlers.secrets import resolve_secrets
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.services.masterkeys.models import AccountMasterKey
from neo_service_layer.services.secrets import grants
from neo_service_layer.services.secrets.models import GranteeKind, SecretVersion
from tests.api.conftest import AppFactory
from tests.api.helpers import assert_problem, new_secret
from tests.conftest import Tenant

RECIPIENT_HEADER = "X-NSL-Recipient-Key"


@dataclass
class Secrets:
    """A small client of the secrets API for one tenant."""

    http: httpx.AsyncClient
    tenant: Tenant
    identity: VerifiedIdentity
    reader: RecipientKey

    def seal(
        self, name: str, value: bytes, cas: int, secret_id: str | None = None, account_id: str | None = None
    ) -> str:
        account = account_id or self.tenant.account_id
        return seal_secret_value(self.identity, account, name, value, cas=cas, secret_id=secret_id)

    async def current(self, name: str) -> tuple[int, str | None]:
        """The version a write of ``name`` replaces now and the secret's id; (0, None) if it is absent."""
        response = await self.http.get(f"/v1/secrets/{name}/metadata", headers=self.tenant.headers)
        if response.status_code == 404:
            return 0, None
        assert response.status_code == 200, response.text
        return response.json()["current_version"], response.json()["id"]

    async def sealed(self, name: str, value: bytes, cas: int | None = None) -> str:
        """``value`` sealed to replace version ``cas`` (default: the current one), as a client does."""
        current, secret_id = await self.current(name)
        cas = current if cas is None else cas
        if cas > 0 and secret_id is None:
            secret_id = "sec_01ABSENT"  # the host refuses this cas before the enclave opens the value
        return self.seal(name, value, cas, secret_id if cas > 0 else None)

    async def put(
        self, name: str, value: bytes, cas: int | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        body: dict[str, Any] = {"sealed_value": await self.sealed(name, value, cas)}
        if cas is not None:
            body["cas"] = cas
        return await self.http.put(f"/v1/secrets/{name}", json=body, headers=headers or self.tenant.headers)

    async def read(self, name: str, version: int | None = None) -> httpx.Response:
        params = {"version": str(version)} if version is not None else {}
        headers = {**self.tenant.headers, RECIPIENT_HEADER: self.reader.public_hex}
        return await self.http.get(f"/v1/secrets/{name}", params=params, headers=headers)

    async def value(self, name: str, version: int | None = None) -> bytes:
        response = await self.read(name, version)
        assert response.status_code == 200, response.text
        return open_secret_value(
            self.reader, response.json()["sealed_value"], account_id=self.tenant.account_id
        )

    async def post(self, path: str, body: object) -> httpx.Response:
        return await self.http.post(path, json=body, headers=self.tenant.headers)

    async def metadata(self, name: str) -> dict[str, Any]:
        response = await self.http.get(f"/v1/secrets/{name}/metadata", headers=self.tenant.headers)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data


async def _identity(client: httpx.AsyncClient) -> VerifiedIdentity:
    report = (await client.get("/v1/attestation")).json()
    return verify_attestation(report, allow_software=True)


@pytest.fixture
async def api(client: httpx.AsyncClient, tenant: Tenant) -> Secrets:
    return Secrets(client, tenant, await _identity(client), RecipientKey.generate())


@pytest.fixture
async def other(client: httpx.AsyncClient, other_tenant: Tenant) -> Secrets:
    return Secrets(client, other_tenant, await _identity(client), RecipientKey.generate())


async def test_write_read_versions_and_signed_result(api: Secrets) -> None:
    first = await api.put("db-password", b"v1-s3cret")
    assert first.status_code == 201, first.text
    assert first.json()["version"] == 1
    second = await api.put("db-password", b"v2-s3cret", cas=1)
    assert second.status_code == 200, second.text
    assert second.json()["version"] == 2
    assert await api.value("db-password") == b"v2-s3cret"
    assert await api.value("db-password", 1) == b"v1-s3cret"

    body = (await api.read("db-password", 1)).json()
    params = {
        "secret_id": body["id"],
        "name": "db-password",
        "version": 1,
        "recipient": api.reader.public_hex,
    }
    request = {"op": "secrets.read", "account_id": api.tenant.account_id, "params": params}
    assert (
        verify_result(body["envelope"], api.identity, request=request)["sealed_value"] == body["sealed_value"]
    )

    meta = await api.metadata("db-password")
    assert (meta["current_version"], meta["max_versions"], meta["cas_required"]) == (2, 10, False)
    assert [v["version"] for v in meta["versions"]] == [1, 2]
    assert "value" not in str(meta)
    assert "sealed" not in str(meta)
    listed = (await api.http.get("/v1/secrets", headers=api.tenant.headers)).json()
    assert [s["name"] for s in listed["items"]] == ["db-password"]


async def test_sealed_read_opens_only_with_the_recipients_private_key(api: Secrets) -> None:
    await api.put("token", b"only-for-reader")
    sealed = (await api.read("token")).json()["sealed_value"]
    assert open_secret_value(api.reader, sealed) == b"only-for-reader"
    with pytest.raises(Exception, match="does not open"):
        open_secret_value(RecipientKey.generate(), sealed)
    with pytest.raises(Exception, match="another name"):
        open_secret_value(api.reader, sealed, name="other")


async def test_list_is_paginated(api: Secrets) -> None:
    for index in range(3):
        assert (await api.put(f"s{index}", b"x")).status_code == 201
    page = (await api.http.get("/v1/secrets", params={"limit": "2"}, headers=api.tenant.headers)).json()
    assert len(page["items"]) == 2
    rest = await api.http.get(
        "/v1/secrets", params={"limit": "2", "cursor": page["next_cursor"]}, headers=api.tenant.headers
    )
    assert [s["name"] for s in rest.json()["items"]] == ["s2"]
    assert rest.json()["next_cursor"] is None


def _legacy_envelope(identity: VerifiedIdentity, account_id: str, name: str) -> str:
    """A write in the first envelope format, which named no version (so could be replayed)."""
    document = {"format": "nsl-secret-write-v1", "account_id": account_id, "name": name, "value": "dg=="}
    return b64encode(
        nacl.public.SealedBox(nacl.public.PublicKey(identity.x25519)).encrypt(canonical_json(document))
    )


def _tamper(sealed: str) -> str:
    raw = bytearray(b64decode(sealed))
    raw[-1] ^= 1
    return b64encode(bytes(raw))


# (id, method, path, body kind or JSON, query, headers kind, expected status, expected code)
BAD_INPUTS: list[Any] = [
    pytest.param(
        "PUT",
        "/v1/secrets/s",
        {"sealed_value": "not base64!"},
        None,
        422,
        "validation_failed",
        id="bad-base64",
    ),
    pytest.param(
        "PUT",
        "/v1/secrets/s",
        "other-account",
        None,
        422,
        "sealed_value_invalid",
        id="sealed-for-other-account",
    ),
    pytest.param(
        "PUT", "/v1/secrets/s", "other-name", None, 422, "sealed_value_invalid", id="sealed-for-other-name"
    ),
    pytest.param(
        "PUT", "/v1/secrets/s", "tampered", None, 422, "sealed_value_invalid", id="tampered-sealed-box"
    ),
    pytest.param(
        "PUT",
        "/v1/secrets/s",
        "v1-format",
        None,
        422,
        "sealed_value_invalid",
        id="v1-envelope-binds-no-version",
    ),
    pytest.param(
        "PUT", "/v1/secrets/s", "sealed-for-v1", None, 409, "sealed_value_stale", id="sealed-for-v1"
    ),
    pytest.param(
        "PUT", "/v1/secrets/s", "sealed-as-creation", None, 409, "sealed_value_stale", id="sealed-as-creation"
    ),
    pytest.param(
        "PUT",
        "/v1/secrets/s",
        "sealed-for-v3",
        None,
        409,
        "sealed_value_stale",
        id="sealed-for-a-later-version",
    ),
    pytest.param(
        "PUT",
        "/v1/secrets/s",
        "sealed-for-other-secret",
        None,
        409,
        "sealed_value_stale",
        id="sealed-for-another-secret-id",
    ),
    pytest.param(
        "PUT", "/v1/secrets/s", "extra-field", None, 422, "validation_failed", id="unknown-body-field"
    ),
    pytest.param("PUT", "/v1/secrets/s", "cas-string", None, 422, "validation_failed", id="cas-not-integer"),
    pytest.param("PUT", "/v1/secrets/bad%20name", "valid", None, 422, "validation_failed", id="bad-name"),
    pytest.param("PUT", "/v1/secrets/s", "cas-0", None, 409, "secret_cas_mismatch", id="cas-0-but-exists"),
    pytest.param("PUT", "/v1/secrets/s", "cas-1", None, 409, "secret_cas_mismatch", id="cas-stale"),
    pytest.param("PUT", "/v1/secrets/new", "cas-1", None, 409, "secret_cas_mismatch", id="cas-on-missing"),
    pytest.param("GET", "/v1/secrets/s", None, {}, 422, "recipient_key_required", id="missing-recipient"),
    pytest.param(
        "GET",
        "/v1/secrets/s",
        None,
        {"recipient": "zz" * 32},
        422,
        "recipient_key_invalid",
        id="recipient-not-hex",
    ),
    pytest.param(
        "GET",
        "/v1/secrets/s",
        None,
        {"recipient": "ab" * 31},
        422,
        "recipient_key_invalid",
        id="recipient-short",
    ),
    pytest.param(
        "GET",
        "/v1/secrets/s",
        None,
        {"recipient": "00" * 32},
        422,
        "recipient_key_invalid",
        id="recipient-zero",
    ),
    pytest.param(
        "GET",
        "/v1/secrets/s",
        None,
        {"recipient": "01" + "00" * 31},
        422,
        "recipient_key_invalid",
        id="recipient-low-order",
    ),
    pytest.param(
        "GET",
        "/v1/secrets/s",
        None,
        {"version": "9", "recipient": "ab" * 32},
        404,
        "secret_version_not_found",
        id="unknown-version",
    ),
    pytest.param(
        "GET",
        "/v1/secrets/s",
        None,
        {"version": "0", "recipient": "ab" * 32},
        422,
        "validation_failed",
        id="version-zero",
    ),
    pytest.param(
        "GET",
        "/v1/secrets/nope",
        None,
        {"recipient": "ab" * 32},
        404,
        "secret_not_found",
        id="unknown-secret",
    ),
    pytest.param(
        "GET", "/v1/secrets/nope/metadata", None, None, 404, "secret_not_found", id="unknown-metadata"
    ),
    pytest.param(
        "PATCH",
        "/v1/secrets/s/metadata",
        {"max_versions": 0},
        None,
        422,
        "validation_failed",
        id="max-versions-0",
    ),
    pytest.param(
        "POST",
        "/v1/secrets/s/delete",
        {"versions": [9]},
        None,
        404,
        "secret_version_not_found",
        id="delete-unknown-version",
    ),
    pytest.param(
        "POST",
        "/v1/secrets/s/destroy",
        {"versions": []},
        None,
        422,
        "validation_failed",
        id="destroy-no-versions",
    ),
    pytest.param(
        "POST",
        "/v1/secrets/s/undelete",
        {"versions": ["1"]},
        None,
        422,
        "validation_failed",
        id="undelete-string-version",
    ),
    pytest.param(
        "POST",
        "/v1/secrets/s/grants",
        {"grantee_kind": "robot", "grantee": "f"},
        None,
        422,
        "validation_failed",
        id="grant-bad-kind",
    ),
    pytest.param(
        "POST",
        "/v1/secrets/s/grants",
        {"grantee_kind": "function", "grantee": "bad name"},
        None,
        422,
        "validation_failed",
        id="grant-bad-grantee",
    ),
    pytest.param(
        "DELETE",
        "/v1/secrets/s/grants/function/nobody",
        None,
        None,
        404,
        "secret_grant_not_found",
        id="revoke-unknown-grant",
    ),
    pytest.param(
        "DELETE", "/v1/secrets/nope", None, None, 404, "secret_not_found", id="delete-unknown-secret"
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "query", "status", "code"), BAD_INPUTS)
async def test_bad_input_is_refused_with_a_stable_code(
    api: Secrets, method: str, path: str, body: object, query: dict[str, str] | None, status: int, code: str
) -> None:
    assert (await api.put("s", b"existing")).status_code == 201
    assert (await api.put("s", b"existing-2")).status_code == 200
    name = path.split("/")[3]
    _, secret_id = await api.current("s")
    for_s = api.seal("s", b"v", 2, secret_id)  # sealed for the current version: only the test's edit is bad
    bodies: dict[str, object] = {
        "valid": {"sealed_value": for_s},  # the path is what is wrong
        "other-account": {"sealed_value": api.seal("s", b"v", 2, secret_id, account_id="acc_01SOMEONEELSE")},
        "other-name": {"sealed_value": api.seal("t", b"v", 2, secret_id)},
        "tampered": {"sealed_value": _tamper(for_s)},
        "extra-field": {"sealed_value": for_s, "value": "plain"},
        "cas-string": {"sealed_value": for_s, "cas": "2"},
        "cas-0": {"sealed_value": for_s, "cas": 0},
        "cas-1": {"sealed_value": api.seal(name.replace("bad%20name", "s"), b"v", 1, secret_id), "cas": 1},
        "sealed-for-v1": {"sealed_value": api.seal("s", b"v", 1, secret_id)},
        "sealed-as-creation": {"sealed_value": api.seal("s", b"v", 0)},
        "sealed-for-v3": {"sealed_value": api.seal("s", b"v", 3, secret_id), "cas": 2},
        "sealed-for-other-secret": {"sealed_value": api.seal("s", b"v", 2, "sec_01OTHERSECRET")},
        "v1-format": {"sealed_value": _legacy_envelope(api.identity, api.tenant.account_id, "s")},
    }
    payload = bodies[body] if isinstance(body, str) else body
    before = await api.metadata("s")
    response = await api.http.request(method, path, json=payload, params=query, headers=api.tenant.headers)
    assert_problem(response, status, code)
    assert await api.metadata("s") == before  # a refused request changes nothing


async def test_cas_required(api: Secrets) -> None:
    await api.put("k", b"1")
    patched = await api.http.patch(
        "/v1/secrets/k/metadata", json={"cas_required": True}, headers=api.tenant.headers
    )
    assert patched.json()["cas_required"] is True
    assert_problem(await api.put("k", b"2"), 422, "secret_cas_required")
    assert (await api.put("k", b"2", cas=1)).json()["version"] == 2
    assert await api.value("k") == b"2"


async def test_soft_delete_undelete_destroy(api: Secrets, state: AppState) -> None:
    for value in (b"one", b"two", b"three"):
        await api.put("life", value)
    deleted = await api.post("/v1/secrets/life/delete", {"versions": [1, 3]})
    assert [v["deleted_at"] is not None for v in deleted.json()["versions"]] == [True, True]
    assert_problem(await api.read("life", 1), 410, "secret_version_deleted")
    assert_problem(await api.read("life"), 410, "secret_version_deleted")  # the latest is deleted
    assert await api.value("life", 2) == b"two"
    undeleted = await api.post("/v1/secrets/life/undelete", {"versions": [3]})
    assert undeleted.json()["versions"][0]["deleted_at"] is None
    assert await api.value("life") == b"three"

    destroyed = await api.post("/v1/secrets/life/destroy", {"versions": [1, 2]})
    assert [v["destroyed"] for v in destroyed.json()["versions"]] == [True, True]
    assert_problem(await api.read("life", 1), 410, "secret_version_destroyed")
    assert_problem(await api.read("life", 2), 410, "secret_version_destroyed")
    again = await api.post("/v1/secrets/life/undelete", {"versions": [2]})
    assert again.json()["versions"][0]["destroyed"] is True  # destroyed is for good
    async with state.db.transaction() as session:
        rows = (await session.execute(select(SecretVersion).order_by(SecretVersion.version))).scalars().all()
    assert [(r.version, r.ciphertext is None, r.wrapped_dek is None) for r in rows] == [
        (1, True, True),
        (2, True, True),
        (3, False, False),
    ]
    meta = await api.metadata("life")
    assert [(v["version"], v["destroyed"]) for v in meta["versions"]] == [(1, True), (2, True), (3, False)]

    assert (await api.http.delete("/v1/secrets/life", headers=api.tenant.headers)).status_code == 204
    assert_problem(await api.read("life"), 404, "secret_not_found")
    async with state.db.transaction() as session:
        assert (await session.execute(select(SecretVersion))).scalars().all() == []


async def test_only_the_last_max_versions_are_kept(app_factory: AppFactory, tenant: Tenant) -> None:
    running = await app_factory(secrets_max_versions=3)
    api = Secrets(running.client, tenant, await _identity(running.client), RecipientKey.generate())
    for index in range(1, 6):
        assert (await api.put("rolling", f"value-{index}".encode())).json()["version"] == index
    meta = await api.metadata("rolling")
    assert (meta["max_versions"], [v["version"] for v in meta["versions"]]) == (3, [3, 4, 5])
    assert_problem(await api.read("rolling", 2), 404, "secret_version_not_found")
    assert await api.value("rolling", 3) == b"value-3"
    patched = await api.http.patch(
        "/v1/secrets/rolling/metadata", json={"max_versions": 1}, headers=tenant.headers
    )
    assert [v["version"] for v in patched.json()["versions"]] == [5]
    async with running.state.db.transaction() as session:
        assert [r.version for r in (await session.execute(select(SecretVersion))).scalars()] == [5]


async def test_concurrent_writes_with_the_same_cas_exactly_one_wins(api: Secrets) -> None:
    created = await asyncio.gather(api.put("race", b"a", cas=0), api.put("race", b"b", cas=0))
    assert sorted(r.status_code for r in created) == [201, 409]
    assert_problem(next(r for r in created if r.status_code == 409), 409, "secret_cas_mismatch")
    updated = await asyncio.gather(*(api.put("race", f"c{i}".encode(), cas=1) for i in range(3)))
    assert sorted(r.status_code for r in updated) == [200, 409, 409]
    assert {r.json()["code"] for r in updated if r.status_code == 409} == {"secret_cas_mismatch"}
    winner = next(r for r in updated if r.status_code == 200)
    assert winner.json()["version"] == 2
    # Without cas in the body, too: each value was sealed to replace version 2, so one lands and the
    # others cannot become version 4 (refused by the host's update or, once it sees v3, the enclave).
    bodies = [{"sealed_value": await api.sealed("race", f"d{i}".encode())} for i in range(3)]
    free = await asyncio.gather(
        *(api.http.put("/v1/secrets/race", json=body, headers=api.tenant.headers) for body in bodies)
    )
    assert sorted(r.status_code for r in free) == [200, 409, 409]
    assert {r.json()["code"] for r in free if r.status_code == 409} <= {
        "secret_cas_mismatch",
        "sealed_value_stale",
    }
    assert [v["version"] for v in (await api.metadata("race"))["versions"]] == [1, 2, 3]


async def test_idempotent_write_is_replayed_not_repeated(api: Secrets) -> None:
    headers = {**api.tenant.headers, "Idempotency-Key": "write-1"}
    body = {"sealed_value": api.seal("idem", b"x", 0)}
    first = await api.http.put("/v1/secrets/idem", json=body, headers=headers)
    again = await api.http.put("/v1/secrets/idem", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert (await api.metadata("idem"))["current_version"] == 1


async def test_other_accounts_secrets_are_not_found(api: Secrets, other: Secrets) -> None:
    secret_id = (await api.put("mine", b"private")).json()["id"]
    for name in ("mine", secret_id):
        assert_problem(await other.read(name), 404, "secret_not_found")
        for method, suffix, body in [
            ("GET", "/metadata", None),
            ("PATCH", "/metadata", {"cas_required": True}),
            ("POST", "/delete", {"versions": [1]}),
            ("POST", "/undelete", {"versions": [1]}),
            ("POST", "/destroy", {"versions": [1]}),
            ("GET", "/grants", None),
            ("POST", "/grants", {"grantee_kind": "function", "grantee": "f"}),
            ("DELETE", "/grants/function/f", None),
            ("DELETE", "", None),
        ]:
            response = await other.http.request(
                method, f"/v1/secrets/{name}{suffix}", json=body, headers=other.tenant.headers
            )
            assert_problem(response, 404, "secret_not_found")
    assert (await other.http.get("/v1/secrets", headers=other.tenant.headers)).json()["items"] == []
    assert_problem(
        await other.put("mine", b"theirs", cas=1), 409, "secret_cas_mismatch"
    )  # their own namespace
    assert (await other.put("mine", b"theirs")).status_code == 201
    assert await api.value("mine") == b"private"
    assert await other.value("mine") == b"theirs"


async def test_scopes_and_roles(api: Secrets, client: httpx.AsyncClient) -> None:
    await api.put("scoped", b"x")
    reader = await new_secret(
        client, api.tenant.owner_key, name="reader", role="developer", scopes=["secrets:read"]
    )
    viewer = await new_secret(client, api.tenant.owner_key, name="viewer", role="viewer")
    for key in (reader, viewer):
        assert_problem(
            await api.put("scoped", b"y", headers={"X-API-Key": key}),
            403,
            "missing_scope" if key == reader else "forbidden",
        )
    developer = await new_secret(client, api.tenant.owner_key, name="dev", role="developer")
    rotate = await client.post("/v1/account/master-key/rotate", headers={"X-API-Key": developer})
    assert_problem(rotate, 403, "forbidden")


@pytest.mark.parametrize(
    ("role", "scopes", "reads_values"),
    [
        pytest.param("owner", ["*"], True, id="owner"),
        pytest.param("developer", ["*"], True, id="developer"),
        pytest.param("developer", ["secrets:read"], True, id="developer-read-scope"),
        pytest.param("viewer", ["*"], False, id="viewer"),
        pytest.param("viewer", ["secrets:read"], False, id="viewer-read-scope"),
    ],
)
async def test_viewers_see_metadata_never_values(
    api: Secrets, client: httpx.AsyncClient, role: str, scopes: list[str], reads_values: bool
) -> None:
    """docs/secrets.md: a value needs a developer or an owner; a viewer sees every secret's metadata.
    Every way of asking for a value is tried: the current version, a named one, the query parameter."""
    await api.put("db-password", b"v1-value")
    await api.put("db-password", b"v2-value")
    key = await new_secret(client, api.tenant.owner_key, name=role, role=role, scopes=scopes)
    who = Secrets(client, Tenant(api.tenant.account_id, key), api.identity, RecipientKey.generate())
    reads = [
        (await who.read("db-password"), b"v2-value"),
        (await who.read("db-password", version=1), b"v1-value"),
        (
            await client.get(
                "/v1/secrets/db-password",
                params={"recipient": who.reader.public_hex},
                headers=who.tenant.headers,
            ),
            b"v2-value",
        ),
    ]
    for response, value in reads:
        if reads_values:
            assert response.status_code == 200, response.text
            assert open_secret_value(who.reader, response.json()["sealed_value"]) == value
        else:
            body = assert_problem(response, 403, "forbidden")
            assert "metadata, not values" in body["detail"]
            assert "sealed_value" not in body
    assert (await who.metadata("db-password"))["current_version"] == 2
    listed = await client.get("/v1/secrets", headers=who.tenant.headers)
    assert [s["name"] for s in listed.json()["items"]] == ["db-password"]
    granted = await client.get("/v1/secrets/db-password/grants", headers=who.tenant.headers)
    assert granted.status_code == 200, granted.text


async def test_a_replayed_sealed_write_is_refused_and_changes_nothing(api: Secrets) -> None:
    """Item 6 of issue 11: whoever captured a write's body (a log, a proxy, the API process) replays it
    to roll the secret back. The body's cas is not sealed, so the attacker also drops or edits it."""
    url = "/v1/secrets/db-password"
    created = await api.put("db-password", b"v1-value")
    secret_id = created.json()["id"]
    captured = {"sealed_value": api.seal("db-password", b"v2-old-password", 1, secret_id), "cas": 1}
    written = await api.http.put(url, json=captured, headers=api.tenant.headers)
    assert written.json()["version"] == 2
    assert (await api.put("db-password", b"v3-new-password", cas=2)).status_code == 200
    before = await api.metadata("db-password")

    assert_problem(
        await api.http.put(url, json=captured, headers=api.tenant.headers), 409, "secret_cas_mismatch"
    )
    for edited in (
        {"sealed_value": captured["sealed_value"]},  # cas dropped
        {**captured, "cas": 3},  # cas set to the current version
    ):
        for headers in (
            api.tenant.headers,
            {**api.tenant.headers, "Idempotency-Key": f"replay-{len(edited)}"},
        ):
            refused = assert_problem(
                await api.http.put(url, json=edited, headers=headers), 409, "sealed_value_stale"
            )
            assert refused["current_version"] == 3
            assert "sealed to replace version 1" in refused["detail"]
    assert await api.value("db-password") == b"v3-new-password"
    assert await api.metadata("db-password") == before
    assert [v["version"] for v in before["versions"]] == [1, 2, 3]


async def test_grants_resolve_inside_the_enclave(
    api: Secrets, state: AppState, enclave_server: EnclaveServer
) -> None:
    await api.put("api-token", b"granted-value")
    await api.put("unrelated", b"not-granted")
    grant = {"grantee_kind": "function", "grantee": "price-fetcher"}
    created = await api.post("/v1/secrets/api-token/grants", grant)
    assert created.status_code == 201, created.text
    assert_problem(await api.post("/v1/secrets/api-token/grants", grant), 409, "secret_grant_exists")
    assert (
        await api.post("/v1/secrets/api-token/grants", {**grant, "grantee_kind": "oracle"})
    ).status_code == 201
    listed = (await api.http.get("/v1/secrets/api-token/grants", headers=api.tenant.headers)).json()["items"]
    assert [(g["grantee_kind"], g["grantee"]) for g in listed] == [
        ("function", "price-fetcher"),
        ("oracle", "price-fetcher"),
    ]

    async with state.db.transaction(api.tenant.account_id) as session:
        records = await grants.granted_records(
            session, api.tenant.account_id, GranteeKind.FUNCTION, "price-fetcher"
        )
    assert [r.name for r in records] == ["api-token"]
    resolved = resolve_secrets(
        enclave_server.ctx,
        {"account_id": api.tenant.account_id, "secrets": [r.model_dump(mode="json") for r in records]},
    )
    assert resolved == {"api-token": b"granted-value"}

    revoked = await api.http.delete(
        "/v1/secrets/api-token/grants/function/price-fetcher", headers=api.tenant.headers
    )
    assert revoked.status_code == 204
    async with state.db.transaction(api.tenant.account_id) as session:
        assert (
            await grants.granted_records(
                session, api.tenant.account_id, GranteeKind.FUNCTION, "price-fetcher"
            )
            == []
        )


async def test_master_key_rotation_rewraps_every_data_key(api: Secrets, state: AppState) -> None:
    await api.put("a", b"alpha-1")
    await api.put("a", b"alpha-2")
    await api.put("b", b"beta-1")
    await api.post("/v1/secrets/a/destroy", {"versions": [1]})

    async def rows() -> list[tuple[int, bytes | None, bytes | None, int]]:
        async with state.db.transaction() as session:
            found = (await session.execute(select(SecretVersion).order_by(SecretVersion.id))).scalars().all()
            return [(r.version, r.ciphertext, r.wrapped_dek, r.amk_version) for r in found]

    before = await rows()
    rotated = await api.http.post("/v1/account/master-key/rotate", headers=api.tenant.headers)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json() == {"version": 2, "rewrapped": 2}  # the destroyed version has no key to move
    after = await rows()
    for (version, ciphertext, dek, amk), (version2, ciphertext2, dek2, amk2) in zip(
        before, after, strict=True
    ):
        assert (version2, ciphertext2) == (version, ciphertext)  # values are not re-encrypted
        if dek is None:
            assert (dek2, amk2) == (None, amk)
        else:
            assert dek2 != dek
            assert (amk, amk2) == (1, 2)
    assert await api.value("a") == b"alpha-2"
    assert await api.value("b") == b"beta-1"
    assert_problem(await api.read("a", 1), 410, "secret_version_destroyed")

    await api.put("b", b"beta-2")  # written under AMK v2
    again = await api.http.post("/v1/account/master-key/rotate", headers=api.tenant.headers)
    assert again.json() == {"version": 3, "rewrapped": 3}
    assert [await api.value("b", 1), await api.value("b", 2)] == [b"beta-1", b"beta-2"]
    async with state.db.transaction() as session:
        versions = (
            (await session.execute(select(AccountMasterKey.version).order_by(AccountMasterKey.version)))
            .scalars()
            .all()
        )
    assert list(versions) == [1, 2, 3]

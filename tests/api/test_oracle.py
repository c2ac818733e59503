"""``/v1/oracle`` end to end: a real app, a real in-process enclave with the real fetcher, real local
HTTPS servers (a test CA), SQLite and PostgreSQL.

The enclave here trusts the test CA and may reach 127.0.0.1 (``allow_private_hosts``, as on a devnet);
that the default policy refuses it is tested in ``tests/enclave/oracle/test_fetch.py`` and, through the
op, in ``tests/enclave/test_oracle_handlers.py``. Every answer is checked offline with
``client.verify_oracle_result`` against the attested identity.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from neo_service_layer.api.state import AppState
from neo_service_layer.client import VerifiedIdentity, verify_oracle_result
from neo_service_layer.client.secrets import seal_secret_value
from neo_service_layer.config import Settings
from neo_service_layer.errors import OracleVerificationFailed
from neo_service_layer.services.oracle.models import OracleRequest
from tests.api.helpers import NO_RATE_LIMITS, assert_problem, audit_entries, auth
from tests.conftest import Tenant
from tests.enclave.functions.enclave_fixtures import enclave_fetcher
from tests.enclave.oracle.servers import LocalServer, OraclePKI, Request, respond
from tests.leaks import LeakScanner, encodings
from tests.settings_helpers import settings_with

URL = "/v1/oracle/requests"
PRICE = b'{"data": {"price": "43000.12", "volume": 12.5}, "ok": true}'

__all__ = ["enclave_fetcher"]  # the shared fixture this module uses


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings_with(settings, rate_limits=NO_RATE_LIMITS)


@pytest.fixture
async def server(pki: OraclePKI, tmp_path: Path) -> AsyncIterator[LocalServer]:
    """An HTTPS API on 127.0.0.1 that behaves (``/price``) and misbehaves (the other paths)."""

    async def price(_request: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, PRICE)

    def fixed(status: int, body: bytes, content_type: str = "application/json") -> Any:
        async def route(_request: Request, writer: asyncio.StreamWriter) -> None:
            await respond(writer, status, body, content_type=content_type)

        return route

    async def echo(request: Request, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, json.dumps({"headers": request.headers}).encode())

    local = LocalServer(
        pki.server_context(tmp_path),
        routes={
            "/price": price,
            "/price-b": fixed(200, b'{"data": {"price": "43000.10"}}'),
            "/price-c": fixed(200, b'{"data": {"price": "43000.16"}}'),
            "/price-liar": fixed(200, b'{"data": {"price": "99999"}}'),
            "/error": fixed(500, b'{"error": "down"}'),
            "/forbidden": fixed(403, b"{}"),
            "/html": fixed(200, b"<html></html>", "text/html"),
            "/broken": fixed(200, b'{"data": '),
            "/empty": fixed(200, b""),
            "/big": fixed(200, b'{"a": "' + b"x" * 70_000 + b'"}'),
            "/echo": echo,
        },
    )
    await local.start()
    try:
        yield local
    finally:
        await local.stop()


async def _request(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await client.post(URL, json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_a_request_is_fetched_filtered_signed_and_recorded(
    client: httpx.AsyncClient,
    tenant: Tenant,
    server: LocalServer,
    pki: OraclePKI,
    identity: VerifiedIdentity,
    state: AppState,
) -> None:
    answer = await _request(client, tenant, url=server.url("/price"), filter="$.data.price")
    assert (answer["code"], answer["code_value"], answer["result"]) == ("Success", 0, '["43000.12"]')
    assert answer["sources"] == [
        {
            "host": "127.0.0.1",
            "code": "Success",
            "status": 200,
            "result": '["43000.12"]',
            "tls_leaf_sha256": hashlib.sha256(pki.leaf_der).hexdigest(),
            "detail": "",
        }
    ]
    verified = verify_oracle_result(answer, identity)
    assert (verified.code.name, verified.result) == ("Success", b'["43000.12"]')
    assert verified.sources[0].tls_leaf_sha256 == hashlib.sha256(pki.leaf_der).digest()
    # Recorded before it was returned, and read back exactly.
    stored = await client.get(f"{URL}/{answer['id']}", headers=tenant.headers)
    assert stored.json() == answer
    listed = await client.get(URL, headers=tenant.headers)
    assert [item["id"] for item in listed.json()["items"]] == [answer["id"]]
    # The audit chain names the hosts and the code, never the URL.
    entries = [e for e in await audit_entries(state.db, tenant.account_id) if e.action == "oracle.request"]
    assert len(entries) == 1
    assert entries[0].details["hosts"] == ["127.0.0.1"]
    assert entries[0].details["code"] == "Success"
    assert "/price" not in json.dumps(entries[0].details)


async def test_a_tampered_record_does_not_verify(
    client: httpx.AsyncClient, tenant: Tenant, server: LocalServer, identity: VerifiedIdentity
) -> None:
    answer = await _request(client, tenant, url=server.url("/price"), filter="$.data.price")
    for field, value in (("result", '["1"]'), ("code", "Error")):
        with pytest.raises(OracleVerificationFailed):
            verify_oracle_result({**answer, field: value}, identity)
    forged_request = {**answer, "request": {**answer["request"], "filter": "$.data"}}
    with pytest.raises(Exception, match="different request"):
        verify_oracle_result(forged_request, identity)


@pytest.mark.parametrize(
    ("path", "extra", "code"),
    [
        pytest.param("/nowhere", {}, "NotFound", id="404"),
        pytest.param("/error", {}, "Error", id="500"),
        pytest.param("/forbidden", {}, "Forbidden", id="403"),
        pytest.param("/html", {}, "ContentTypeNotSupported", id="content-type"),
        pytest.param("/broken", {"filter": "$.data"}, "Error", id="malformed-json"),
        pytest.param("/empty", {}, "Error", id="empty-body"),
        pytest.param("/big", {}, "ResponseTooLarge", id="over-65535-bytes"),
        pytest.param("/price", {"max_response_bytes": 10}, "ResponseTooLarge", id="over-the-asked-limit"),
        pytest.param("/price", {"filter": "$.nothing"}, "Success", id="no-match-is-an-empty-array"),
    ],
)
async def test_each_outcome_is_a_recorded_result(
    client: httpx.AsyncClient,
    tenant: Tenant,
    server: LocalServer,
    identity: VerifiedIdentity,
    path: str,
    extra: dict[str, Any],
    code: str,
) -> None:
    answer = await _request(client, tenant, url=server.url(path), **extra)
    assert answer["code"] == code, answer
    assert answer["result"] == ("[]" if code == "Success" else None)
    verify_oracle_result(answer, identity)
    # The enclave keeps serving after each failure.
    follow_up = await _request(client, tenant, url=server.url("/price"), filter="$.ok")
    assert (follow_up["code"], follow_up["result"]) == ("Success", "[true]")


async def test_an_unsupported_scheme_is_an_outcome(client: httpx.AsyncClient, tenant: Tenant) -> None:
    answer = await _request(client, tenant, url="ftp://127.0.0.1/file.json")
    assert (answer["code"], answer["code_value"]) == ("ProtocolNotSupported", 0x10)


async def test_the_median_of_several_sources_ignores_a_liar(
    client: httpx.AsyncClient, tenant: Tenant, server: LocalServer, identity: VerifiedIdentity
) -> None:
    paths = ("/price", "/price-b", "/price-c", "/price-liar", "/error")
    answer = await _request(
        client,
        tenant,
        sources=[{"url": server.url(path)} for path in paths],
        filter="$.data.price",
        aggregate="median",
    )
    assert (answer["code"], answer["result"]) == ("Success", "[43000.14]")
    assert [s["code"] for s in answer["sources"]] == ["Success"] * 4 + ["Error"]
    verified = verify_oracle_result(answer, identity)
    assert verified.result == b"[43000.14]"
    spread = await _request(
        client,
        tenant,
        sources=[{"url": server.url(path)} for path in paths],
        filter="$.data.price",
        aggregate="median",
        max_spread="0.01",
    )
    assert spread["code"] == "ConsensusUnreachable"
    assert "spread" in spread["detail"]


async def _secret(
    client: httpx.AsyncClient, tenant: Tenant, name: str, value: bytes, hosts: list[str], *, grant: str | None
) -> None:
    transport = (await client.get("/v1/attestation")).json()
    sealed = seal_secret_value(
        transport, tenant.account_id, name, value, cas=0, allowed_hosts=hosts, allow_software=True
    )
    response = await client.put(f"/v1/secrets/{name}", json={"sealed_value": sealed}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 1
    if grant is not None:
        granted = await client.post(
            f"/v1/secrets/{name}/grants",
            json={"grantee_kind": "oracle", "grantee": grant},
            headers=tenant.headers,
        )
        assert granted.status_code == 201, granted.text


async def test_a_granted_secret_reaches_its_host_and_nothing_else(
    client: httpx.AsyncClient, tenant: Tenant, server: LocalServer, state: AppState
) -> None:
    value = b"sk-live-0123456789abcdef"
    await _secret(client, tenant, "API_KEY", value, ["127.0.0.1"], grant="127.0.0.1")
    answer = await _request(
        client,
        tenant,
        url=server.url("/price"),
        headers={"X-API-Key": "{{secrets.API_KEY}}"},
        filter="$.data.price",
    )
    assert answer["code"] == "Success"
    assert server.requests[-1].headers["x-api-key"] == value.decode()
    # The request as recorded and signed keeps the placeholder.
    assert answer["request"]["sources"][0]["headers"] == {"X-API-Key": "{{secrets.API_KEY}}"}
    async with state.db.session() as session:
        rows = (await session.execute(select(OracleRequest))).scalars().all()
    assert value not in json.dumps([r.request for r in rows] + [r.envelope for r in rows]).encode()


async def test_a_server_that_echoes_a_secret_gets_no_answer_through(
    client: httpx.AsyncClient, tenant: Tenant, server: LocalServer
) -> None:
    value = b"sk-live-echo-987654321"
    await _secret(client, tenant, "ECHOED", value, ["127.0.0.1"], grant="127.0.0.1")
    answer = await _request(client, tenant, url=server.url("/echo"), headers={"X-Key": "{{secrets.ECHOED}}"})
    assert (answer["code"], answer["result"]) == ("Error", None)
    assert "granted secret" in answer["detail"]
    assert value.decode() not in json.dumps(answer)


@pytest.mark.parametrize(
    ("hosts", "grant", "message"),
    [
        pytest.param(["127.0.0.1"], None, "not granted", id="no-grant"),
        pytest.param(["127.0.0.1"], "other.example", "not granted", id="granted-to-another-host"),
        pytest.param(
            ["other.example"], "127.0.0.1", "not sealed with that host", id="sealed-for-another-host"
        ),
        pytest.param([], "127.0.0.1", "not sealed with that host", id="sealed-for-no-host"),
    ],
)
async def test_a_secret_without_grant_or_sealed_host_is_refused_before_anything_is_sent(
    client: httpx.AsyncClient,
    tenant: Tenant,
    server: LocalServer,
    state: AppState,
    hosts: list[str],
    grant: str | None,
    message: str,
) -> None:
    await _secret(client, tenant, "KEY", b"sk-never-sent-000111", hosts, grant=grant)
    response = await client.post(
        URL,
        json={"url": server.url("/price"), "headers": {"Authorization": "Bearer {{secrets.KEY}}"}},
        headers=tenant.headers,
    )
    body = assert_problem(response, 422, "oracle_secret_not_granted")
    assert message in body["detail"]
    assert server.requests == []
    assert await _count(state) == 0


async def _count(state: AppState) -> int:
    async with state.db.session() as session:
        return int((await session.execute(select(func.count()).select_from(OracleRequest))).scalar_one())


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({"url": "not a url"}, "oracle_url_invalid", id="no-host"),
        pytest.param({"url": "https://[::1/"}, "oracle_url_invalid", id="broken-ipv6"),
        pytest.param({}, "oracle_url_invalid", id="neither-url-nor-sources"),
        pytest.param(
            {"url": "https://a.example/", "sources": [{"url": "https://b.example/"}]},
            "oracle_url_invalid",
            id="both-url-and-sources",
        ),
        pytest.param(
            {"sources": [{"url": f"https://s{i}.example/"} for i in range(8)]},
            "oracle_too_many_sources",
            id="eight-sources",
        ),
        pytest.param({"sources": []}, "oracle_too_many_sources", id="no-sources"),
        pytest.param({"url": "https://a.example/", "filter": "$["}, "oracle_filter_invalid", id="bad-filter"),
        pytest.param(
            {"url": "https://a.example/", "filter": "$" + ".a" * 600},
            "oracle_filter_invalid",
            id="long-filter",
        ),
        pytest.param(
            {"url": "https://a.example/", "headers": {"Host": "b.example"}},
            "oracle_header_not_allowed",
            id="host-header",
        ),
        pytest.param(
            {"url": "https://a.example/", "headers": {"X-Forwarded-For": "1.2.3.4"}},
            "oracle_header_not_allowed",
            id="forwarding-header",
        ),
        pytest.param(
            {"url": "https://a.example/", "body": "x"}, "oracle_header_not_allowed", id="body-on-get"
        ),
        pytest.param({"url": "https://{{secrets.K}}.example/"}, "oracle_url_invalid", id="secret-in-host"),
        pytest.param(
            {"url": "https://a.example/{{secrets.K}"}, "oracle_header_not_allowed", id="broken-placeholder"
        ),
        pytest.param(
            {"sources": [{"url": "https://a.example/"}, {"url": "https://b.example/"}], "quorum": 3},
            "oracle_aggregate_invalid",
            id="quorum-over-sources",
        ),
        pytest.param(
            {"url": "https://a.example/", "max_spread": "0.01"},
            "oracle_aggregate_invalid",
            id="spread-without-median",
        ),
        pytest.param(
            {"url": "https://a.example/", "aggregate": "median", "max_spread": "1e-3"},
            "oracle_aggregate_invalid",
            id="spread-not-decimal",
        ),
        pytest.param(
            {"url": "https://a.example/", "max_response_bytes": 65_536},
            "oracle_limit_exceeded",
            id="size-over-limit",
        ),
        pytest.param(
            {"url": "https://a.example/", "timeout_ms": 0}, "oracle_limit_exceeded", id="zero-timeout"
        ),
        pytest.param(
            {"url": "https://a.example/", "timeout_ms": 600_000}, "oracle_limit_exceeded", id="long-timeout"
        ),
        pytest.param(
            {"url": "https://a.example/{{secrets.MISSING}}"}, "oracle_secret_not_granted", id="unknown-secret"
        ),
    ],
)
async def test_bad_input_is_a_clear_422_and_records_nothing(
    client: httpx.AsyncClient, tenant: Tenant, state: AppState, body: dict[str, Any], code: str
) -> None:
    assert_problem(await client.post(URL, json=body, headers=tenant.headers), 422, code)
    assert await _count(state) == 0


async def test_another_accounts_request_is_not_found(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, server: LocalServer
) -> None:
    answer = await _request(client, tenant, url=server.url("/price"))
    response = await client.get(f"{URL}/{answer['id']}", headers=other_tenant.headers)
    assert_problem(response, 404, "oracle_request_not_found")
    listed = await client.get(URL, headers=other_tenant.headers)
    assert listed.json()["items"] == []


@pytest.mark.parametrize(
    ("body", "result"),
    [
        pytest.param({"filter": "$.a[1]", "document": '{"a": [1, 2.50, 3]}'}, "[2.5]", id="float64-numbers"),
        pytest.param(
            {"filter": "$..b", "document": '{"a": {"b": "é<"}}'}, '["\\u00E9\\u003C"]', id="ascii-escapes"
        ),
        pytest.param(
            {"filter": None, "document": "plain text"}, "plain text", id="no-filter-returns-the-body"
        ),
        pytest.param({"filter": "$[0]", "document_base64": "WzFd"}, "[1]", id="base64-document"),
    ],
)
async def test_the_filter_playground_runs_the_oracles_filter(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], result: str
) -> None:
    response = await client.post("/v1/oracle/filter", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"result": result}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({"filter": "$[", "document": "{}"}, "oracle_filter_invalid", id="bad-filter"),
        pytest.param({"filter": "$", "document": "{"}, "oracle_filter_invalid", id="bad-json"),
        pytest.param({"filter": "$", "document_base64": "/w=="}, "oracle_filter_invalid", id="not-utf8"),
        pytest.param({"filter": "$"}, "oracle_document_invalid", id="no-document"),
        pytest.param(
            {"filter": "$", "document": "{}", "document_base64": "e30="}, "oracle_document_invalid", id="both"
        ),
        pytest.param({"filter": "$", "document_base64": "%%%"}, "oracle_document_invalid", id="bad-base64"),
    ],
)
async def test_the_filter_playground_refuses_clearly(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], code: str
) -> None:
    assert_problem(await client.post("/v1/oracle/filter", json=body, headers=tenant.headers), 422, code)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_secret_the_oracle_substitutes_never_leaks(
    leak_scan: LeakScanner, server: LocalServer
) -> None:
    value = b"sk-live-leakcheck-5f4e3d2c1b0a"
    async with leak_scan("json") as scan:
        client, admin = scan.client, scan.admin_key
        account = (await client.post("/v1/admin/accounts", json={"name": "o"}, headers=auth(admin))).json()
        owner = scan.shown_once(
            await client.post(
                f"/v1/admin/accounts/{account['id']}/api-keys",
                json={"name": "o", "role": "owner"},
                headers=auth(admin),
            )
        )
        tenant = Tenant(account["id"], owner)
        await _secret(client, tenant, "LEAKY", value, ["127.0.0.1"], grant="127.0.0.1")
        placeholder = "{{secrets.LEAKY}}"
        used: list[dict[str, Any]] = [
            {"url": server.url("/price"), "headers": {"Authorization": f"Bearer {placeholder}"}},
            {"url": server.url(f"/price?key={placeholder}")},
            {"url": server.url("/price"), "method": "POST", "body": f'{{"key": "{placeholder}"}}'},
            {"url": server.url("/echo"), "headers": {"X-Key": placeholder}},  # refused: echoes it
            {"url": server.url("/nowhere"), "headers": {"X-Key": placeholder}},  # NotFound
        ]
        codes = [(await _request(client, tenant, **body))["code"] for body in used]
        refused = await client.post(
            URL, json={"url": "https://other.example/?k=" + placeholder}, headers=tenant.headers
        )
        listed = await client.get(URL, headers=tenant.headers)
    assert codes == ["Success", "Success", "Success", "Error", "NotFound"]
    assert refused.status_code == 422
    assert len(listed.json()["items"]) == 5
    # A positive control: the value did leave, to the server it was sealed and granted for.
    sent = [r.headers.get("authorization", "") + r.path + r.body.decode() for r in server.requests]
    assert sum(value.decode() in line for line in sent) == 3
    scan.assert_never_seen("an oracle secret", encodings(value))


async def test_rfc9535_with_typed_extraction_gives_an_abi_word(
    client: httpx.AsyncClient, tenant: Tenant, server: LocalServer, identity: VerifiedIdentity
) -> None:
    paths = ("/price", "/price-b", "/price-c")
    answer = await _request(
        client,
        tenant,
        sources=[{"url": server.url(path)} for path in paths],
        filter="$.data.price",
        filter_syntax="rfc9535",
        extract={"type": "uint256", "decimals": 2},
        aggregate="median",
    )
    assert (answer["code"], answer["result"]) == ("Success", "[4300012]")
    assert [s["result"] for s in answer["sources"]] == ["[4300012]", "[4300010]", "[4300016]"]
    assert answer["abi"] == "0x" + (4300012).to_bytes(32, "big").hex()
    assert verify_oracle_result(answer, identity).result == b"[4300012]"
    with pytest.raises(OracleVerificationFailed, match="abi"):
        verify_oracle_result({**answer, "abi": "0x" + (1).to_bytes(32, "big").hex()}, identity)


async def test_an_extraction_that_does_not_fit_is_an_error_result(
    client: httpx.AsyncClient, tenant: Tenant, server: LocalServer
) -> None:
    answer = await _request(
        client, tenant, url=server.url("/price"), filter="$.data.volume", extract={"type": "bool"}
    )
    assert (answer["code"], answer["result"], answer["abi"]) == ("Error", None, None)
    assert "not a JSON boolean" in answer["detail"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(
            {"filter": "$[?@.a]", "filter_syntax": "n3"},
            "oracle_filter_invalid",
            id="rfc-syntax-in-n3",
        ),
        pytest.param({"filter": "$[", "filter_syntax": "rfc9535"}, "oracle_filter_invalid", id="bad-rfc9535"),
        pytest.param(
            {"extract": {"type": "string", "decimals": 2}},
            "oracle_extract_invalid",
            id="decimals-on-string",
        ),
        pytest.param(
            {"extract": {"type": "int256", "decimals": 78}},
            "oracle_extract_invalid",
            id="too-many-decimals",
        ),
    ],
)
async def test_bad_syntax_or_extraction_is_a_422(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], code: str
) -> None:
    response = await client.post(URL, json={"url": "https://a.example/", **body}, headers=tenant.headers)
    assert_problem(response, 422, code)


async def test_the_playground_runs_rfc9535_too(client: httpx.AsyncClient, tenant: Tenant) -> None:
    body = {"filter": "$.a[?@ > 1]", "filter_syntax": "rfc9535", "document": '{"a": [1, 2, 3]}'}
    response = await client.post("/v1/oracle/filter", json=body, headers=tenant.headers)
    assert response.json() == {"result": "[2,3]"}


async def test_a_request_with_a_secret_and_an_idempotency_key_is_answered_once(
    client: httpx.AsyncClient, tenant: Tenant, server: LocalServer
) -> None:
    # The key's lookup opens the request's session before the route runs; the grants are read beside it.
    await _secret(client, tenant, "API_KEY", b"sk-live-0123456789abcdef", ["127.0.0.1"], grant="127.0.0.1")
    body = {
        "url": server.url("/price"),
        "headers": {"X-API-Key": "{{secrets.API_KEY}}"},
        "filter": "$.data.price",
    }
    headers = {**tenant.headers, "Idempotency-Key": "oracle-secret-1"}

    first = await asyncio.wait_for(client.post(URL, json=body, headers=headers), 30)
    again = await asyncio.wait_for(client.post(URL, json=body, headers=headers), 30)

    assert first.status_code == 201, first.text
    assert (again.status_code, again.json()["id"]) == (201, first.json()["id"])
    assert len(server.requests) == 1

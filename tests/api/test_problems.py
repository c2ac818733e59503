"""Every error is RFC 9457 problem+json with a stable ``code``; bad input is a 4xx that writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Message

from neo_service_layer.api.state import AppState
from neo_service_layer.db.models import Outcome
from tests.api.conftest import AppFactory
from tests.api.helpers import assert_problem, audit_entries, auth, row_counts
from tests.conftest import Tenant

LIMIT = 4096


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b'{"name": ', "application/json", 400, "malformed_body"),
        (b'{"name": "\xff\xfe"}', "application/json", 400, "malformed_body"),
        (b"[1, 2]", "application/json", 422, "validation_failed"),
        (b'"just a string"', "application/json", 422, "validation_failed"),
        (b'{"name": 5}', "application/json", 422, "validation_failed"),
        (b'{"name": "k", "role": "root"}', "application/json", 422, "validation_failed"),
        (b'{"name": "k", "scopes": "*"}', "application/json", 422, "validation_failed"),
        (b'{"name": "k", "expires_at": 12}', "application/json", 422, "validation_failed"),
        (b'{"name": "k", "is_admin": true}', "application/json", 422, "validation_failed"),
        (b'{"name": "\\u0000"}', "application/json", 422, "validation_failed"),
        (b'{"name": "\\ud800"}', "application/json", 422, "validation_failed"),
        (b"", "application/json", 422, "validation_failed"),
        (b"name=k", "application/x-www-form-urlencoded", 422, "validation_failed"),
    ],
    ids=[
        "truncated-json",
        "not-utf8",
        "array",
        "string",
        "wrong-type",
        "unknown-enum",
        "scopes-not-a-list",
        "date-not-a-string",
        "unknown-field",
        "nul-in-name",
        "lone-surrogate",
        "empty",
        "form-encoded",
    ],
)
async def test_bad_bodies_are_a_4xx_problem_and_write_nothing(
    client: httpx.AsyncClient,
    state: AppState,
    tenant: Tenant,
    content: bytes,
    content_type: str,
    status: int,
    code: str,
) -> None:
    before = await row_counts(state.db)
    audited = len(await audit_entries(state.db))
    response = await client.post(
        "/v1/api-keys", content=content, headers={**tenant.headers, "Content-Type": content_type}
    )
    assert_problem(response, status, code)
    assert await row_counts(state.db) == before
    # At most the refusal itself is audited (validation runs inside the request's unit of work).
    new_entries = (await audit_entries(state.db))[audited:]
    assert all(entry.outcome == Outcome.DENIED for entry in new_entries)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/auth/token", {"ttl_seconds": True}),
        ("POST", "/v1/auth/token", {"ttl_seconds": "60"}),
        ("POST", "/v1/auth/token", {"ttl_seconds": 60.0}),
        ("POST", "/v1/api-keys", {"name": "k", "expires_at": 4102444800}),
        ("PATCH", "/v1/admin/accounts/{account}", {"disabled": "yes"}),
        ("PATCH", "/v1/admin/accounts/{account}", {"disabled": 1}),
    ],
    ids=[
        "bool-for-int",
        "string-for-int",
        "float-for-int",
        "epoch-for-date",
        "word-for-bool",
        "int-for-bool",
    ],
)
async def test_values_of_the_wrong_json_type_are_refused_not_coerced(
    client: httpx.AsyncClient, tenant: Tenant, admin_key: str, method: str, path: str, body: dict[str, object]
) -> None:
    """The body must be what the OpenAPI schema says, not something a lax parser can turn into it."""
    key = admin_key if path.startswith("/v1/admin") else tenant.owner_key
    response = await client.request(
        method, path.format(account=tenant.account_id), json=body, headers=auth(key)
    )
    assert_problem(response, 422, "validation_failed")
    assert (await client.get("/v1/account", headers=tenant.headers)).json()["disabled"] is False


async def test_validation_errors_name_the_fields_but_never_echo_input(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    response = await client.post(
        "/v1/api-keys",
        json={"name": 7, "secret": "hunter2-do-not-echo", "scopes": ["nope"]},
        headers=tenant.headers,
    )
    problem = assert_problem(response, 422, "validation_failed")
    locations = {tuple(error["loc"]) for error in problem["errors"]}
    assert ("body", "name") in locations
    assert ("body", "secret") in locations
    assert all(set(error) == {"loc", "msg", "type"} for error in problem["errors"])
    assert "hunter2-do-not-echo" not in response.text


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v1/nothing-here", 404, "not_found"),
        ("GET", "/v1/api-keys/key_01ZZZZZZZZZZZZZZZZZZZZZZZZ", 404, "not_found"),
        ("PUT", "/v1/account", 405, "method_not_allowed"),
        ("DELETE", "/v1/api-keys", 405, "method_not_allowed"),
    ],
    ids=["unknown-route", "unknown-id", "put-account", "delete-collection"],
)
async def test_routing_errors_are_problems(
    client: httpx.AsyncClient, tenant: Tenant, method: str, path: str, status: int, code: str
) -> None:
    response = await client.request(method, path, headers=tenant.headers)
    assert_problem(response, status, code)
    if status == 405:
        assert response.headers["allow"]  # RFC 9110 section 15.5.6


async def test_declared_body_over_the_limit_is_a_413(
    app_factory: AppFactory, state: AppState, tenant: Tenant
) -> None:
    running = await app_factory(max_body_bytes=LIMIT)
    before = await row_counts(state.db)
    body = b'{"name": "' + b"x" * LIMIT + b'"}'
    response = await running.client.post(
        "/v1/api-keys", content=body, headers={**tenant.headers, "Content-Type": "application/json"}
    )
    problem = assert_problem(response, 413, "payload_too_large")
    assert str(LIMIT) in problem["detail"]
    assert await row_counts(state.db) == before


async def test_streamed_body_over_the_limit_is_a_413(
    app_factory: AppFactory, state: AppState, tenant: Tenant
) -> None:
    running = await app_factory(max_body_bytes=LIMIT)
    before = await row_counts(state.db)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(8):
            yield b"x" * 1024
        yield b'"}'

    response = await running.client.post(
        "/v1/api-keys", content=chunks(), headers={**tenant.headers, "Content-Type": "application/json"}
    )
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload_too_large")
    assert await row_counts(state.db) == before


async def test_body_at_the_limit_is_read(app_factory: AppFactory, tenant: Tenant) -> None:
    running = await app_factory(max_body_bytes=LIMIT)
    prefix, suffix = b'{"name": "k", "scopes": ["*"], "role": "viewer"', b"}"
    body = prefix + b" " * (LIMIT - len(prefix) - len(suffix)) + suffix
    assert len(body) == LIMIT
    response = await running.client.post(
        "/v1/api-keys", content=body, headers={**tenant.headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 201


def test_default_body_limit_is_one_mebibyte(app: FastAPI) -> None:
    state: AppState = app.state.nsl
    assert state.settings.max_body_bytes == 1024 * 1024


async def call_raw(app: FastAPI, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> tuple[int, bytes]:
    """Send one request straight to the ASGI app (for headers a client library refuses to send)."""
    sent: list[Message] = []
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/api-keys",
        "raw_path": b"/v1/api-keys",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"nsl.test"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("nsl.test", 80),
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return int(start["status"]), b"".join(
        m.get("body", b"") for m in sent if m["type"] == "http.response.body"
    )


@pytest.mark.parametrize(
    "value",
    [b"abc", b"-1", b"\xb2", b"9" * 30, b"1e3"],
    ids=["word", "negative", "superscript-two", "huge", "exp"],
)
async def test_invalid_content_length_is_a_400(app: FastAPI, tenant: Tenant, value: bytes) -> None:
    status, body = await call_raw(
        app, [(b"content-length", value), (b"x-api-key", tenant.owner_key.encode())], b'{"name": "k"}'
    )
    assert status == 400
    assert b'"code":"bad_request"' in body


async def test_unexpected_errors_are_a_500_problem_without_details(app: FastAPI) -> None:
    async def explode() -> None:
        raise RuntimeError("internal detail: password=hunter2")

    app.add_api_route("/test-explode", explode)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://nsl.test") as raw:
        response = await raw.get("/test-explode", headers={"X-Request-ID": "boom-1"})
        metrics = (await raw.get("/metrics")).text
    assert_problem(response, 500, "internal_error")
    assert "hunter2" not in response.text
    assert response.headers.get_list("x-request-id") == ["boom-1"]
    assert 'nsl_http_requests_total{method="GET",route="/test-explode",status="500"} 1.0' in metrics


async def test_unknown_route_needs_no_credentials_to_be_a_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/nope"), 404, "not_found")


async def test_problem_codes_are_stable_urns(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get("/v1/account", headers=auth("nsl_x"))
    problem = assert_problem(response, 401, "unauthenticated")
    assert problem == {
        "type": "urn:nsl:error:unauthenticated",
        "title": "Missing or invalid credentials",
        "status": 401,
        "detail": "malformed API key",
        "code": "unauthenticated",
        "instance": "/v1/account",
        "request_id": response.headers["x-request-id"],
    }

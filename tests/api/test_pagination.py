"""Cursor pagination: opaque cursors, every row exactly once, bad cursors are a 422."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from neo_service_layer.api.pagination import decode_cursor, encode_cursor
from neo_service_layer.errors import ValidationFailed
from tests.api.helpers import assert_problem, new_secret
from tests.conftest import Tenant


def raw_cursor(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize(
    "after",
    [0, 1, 2**31 - 1, 2**63 - 1, -(2**63), "key_01J0000000000000000000000", "ü-名前", "x" * 255],
    ids=["zero", "one", "int32-max", "int64-max", "int64-min", "id", "unicode", "longest-string"],
)
def test_cursor_round_trips(after: Any) -> None:
    cursor = encode_cursor(after)
    assert "=" not in cursor
    assert decode_cursor(cursor) == after


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "a",
        raw_cursor(b"not json"),
        raw_cursor(b"\xff\xfe"),
        raw_cursor(b"[1]"),
        raw_cursor(b'{"before": 1}'),
        raw_cursor(b'{"after": null}'),
        raw_cursor(b'{"after": true}'),
        raw_cursor(b'{"after": 1.5}'),
        raw_cursor(b'{"after": [1]}'),
        raw_cursor(json.dumps({"after": 2**63}).encode()),
        raw_cursor(b'{"after": ""}'),
        raw_cursor(b'{"after": "a\\u0000b"}'),
        raw_cursor(b'{"after": "\\ud800"}'),
        raw_cursor(json.dumps({"after": "x" * 256}).encode()),
        raw_cursor(b"[" * 300),
    ],
    ids=[
        "not-base64",
        "truncated",
        "not-json",
        "not-utf8",
        "list",
        "no-after",
        "null",
        "bool",
        "float",
        "nested",
        "int-over-64-bit",
        "empty-string",
        "nul-byte",
        "lone-surrogate",
        "string-too-long",
        "deep-nesting",
    ],
)
def test_bad_cursors_are_validation_errors(cursor: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor(cursor)
    assert caught.value.extra == {"parameter": "cursor"}


async def walk(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], limit: int
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    for _ in range(100):
        response = await client.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        if page["next_cursor"] is None:
            return items
        assert page["items"], "a page with a next cursor has items"
        params["cursor"] = page["next_cursor"]
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("limit", [1, 3, 7, 8, 500], ids=lambda n: f"limit-{n}")
async def test_walking_all_pages_returns_every_key_once_in_order(
    client: httpx.AsyncClient, tenant: Tenant, limit: int
) -> None:
    for n in range(6):
        await new_secret(client, tenant.owner_key, name=f"k{n}")
    everything = (await client.get("/v1/api-keys", params={"limit": 500}, headers=tenant.headers)).json()
    assert everything["next_cursor"] is None
    assert len(everything["items"]) == 7  # six and the owner key
    walked = await walk(client, "/v1/api-keys", tenant.headers, limit)
    ids = [item["id"] for item in walked]
    assert ids == [item["id"] for item in everything["items"]]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


async def test_walking_the_audit_log_by_sequence_number(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for _ in range(4):
        assert (await client.get("/v1/account", headers=tenant.headers)).status_code == 200
    walked = await walk(client, "/v1/audit", tenant.headers, 2)
    seqs = [entry["seq"] for entry in walked]
    assert len(seqs) >= 5
    assert seqs == sorted(set(seqs))


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/api-keys", {"cursor": "%%%"}),
        ("/v1/api-keys", {"cursor": encode_cursor(5)}),
        ("/v1/audit", {"cursor": encode_cursor("key_01")}),
        ("/v1/audit", {"cursor": encode_cursor(2**31)}),
        ("/v1/audit", {"cursor": raw_cursor(b'{"after": true}')}),
        ("/v1/api-keys", {"cursor": "a" * 513}),
        ("/v1/api-keys", {"limit": 0}),
        ("/v1/api-keys", {"limit": 501}),
        ("/v1/api-keys", {"limit": "ten"}),
    ],
    ids=[
        "garbage",
        "int-for-string-column",
        "string-for-int-column",
        "beyond-int32-column",
        "bool",
        "oversized",
        "limit-zero",
        "limit-too-big",
        "limit-not-a-number",
    ],
)
async def test_bad_page_parameters_are_a_422(
    client: httpx.AsyncClient, tenant: Tenant, path: str, params: dict[str, Any]
) -> None:
    response = await client.get(path, params=params, headers=tenant.headers)
    assert_problem(response, 422, "validation_failed")

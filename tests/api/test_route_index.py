"""The route index (``api.route_index``) decides exactly as FastAPI's matching over every route does.

Every route of the app, as the app serves it, is requested with its template filled in, with a trailing
slash added or removed, with a method it does not take, cut short, and extended; plus paths no route
has. Each request is answered once through the index and once by the router unfiltered, on the same
app: status, ``Location`` (the trailing-slash redirect) and ``Allow`` (405) must agree. No credential
is sent, so an authenticated route answers 401 once matched (as it does through either).
"""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from neo_service_layer.api.route_index import RouteIndex, entry_prefixes, literal_prefix

OTHER_PATHS = (
    "/",
    "/v1",
    "/v1/",
    "/v1/nothing",
    "/v1/accounts",
    "/v1/account/",
    "/v1/accountx",
    "/v1/auth",
    "/v1/keysx/abc/sign",
    "/healthz/",
    "/docs/",
    "/openapi.json/",
    "/%2Fv1/account",
)
METHODS = ("GET", "POST", "DELETE")


def _sample_paths(app: FastAPI) -> set[tuple[str, str]]:
    requests: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        if context.path is None:
            continue
        path = re.sub(r"\{[^}]+\}", "sample_1", context.path)
        variants = {path, path + "/", path.rstrip("/") or "/", path.rsplit("/", 1)[0] or "/", path + "/more"}
        for method in (*(context.methods or ()), *METHODS):
            requests.update((method, variant) for variant in variants)
    requests.update((method, path) for path in OTHER_PATHS for method in METHODS)
    return requests


def _answer(response: httpx.Response) -> tuple[int, str | None, str | None]:
    return response.status_code, response.headers.get("location"), response.headers.get("allow")


async def test_the_index_decides_as_the_router_does(app: FastAPI, client: httpx.AsyncClient) -> None:
    index = app.router.middleware_stack
    assert isinstance(index, RouteIndex)
    requests = sorted(_sample_paths(app))
    assert len(requests) > 300
    indexed = [_answer(await client.request(method, path)) for method, path in requests]
    app.router.middleware_stack = app.router.app
    try:
        unfiltered = [_answer(await client.request(method, path)) for method, path in requests]
    finally:
        app.router.middleware_stack = index
    differences = [
        f"{method} {path}: indexed {got}, router {want}"
        for (method, path), got, want in zip(requests, indexed, unfiltered, strict=True)
        if got != want
    ]
    assert differences == []
    # The table reaches every kind of answer, or it would prove little.
    assert {status for status, _, _ in unfiltered} >= {401, 404, 405, 307, 200}


async def test_a_route_added_later_is_matched(app: FastAPI, client: httpx.AsyncClient) -> None:
    assert (await client.get("/zz/late")).status_code == 404  # the index is built

    async def late() -> dict[str, str]:
        return {"late": "yes"}

    app.add_api_route("/zz/late", late, methods=["GET"])
    response = await client.get("/zz/late")
    assert (response.status_code, response.json()) == (200, {"late": "yes"})


@pytest.mark.parametrize(
    ("template", "prefix"),
    [
        ("/v1/account", "/v1/account"),
        ("/v1/account/", "/v1/account"),
        ("/v1/keys/{key_id}/sign", "/v1/keys"),
        ("/v1/keys/x{key_id}", "/v1/keys/x"),
        ("/{anything:path}", ""),
        ("/", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_literal_prefix(template: str | None, prefix: str) -> None:
    assert literal_prefix(template) == prefix


def test_an_included_router_is_indexed_by_its_routes_prefixes(app: FastAPI) -> None:
    prefixes = {entry_prefixes(route) for route in app.router.routes}
    # The keys routers (nested) by the prefixes of their routes; health's by its three paths, so a
    # request under /v1 never asks it.
    assert {("/v1/keys", "/v1/keys/restore"), ("/healthz", "/metrics", "/readyz")} <= prefixes
    assert not any("/v1/account".startswith(p) for p in ("/healthz", "/metrics", "/readyz"))

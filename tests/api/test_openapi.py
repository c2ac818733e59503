"""The OpenAPI document declares the credentials of every route with a requirement (``api.openapi``),
as FastAPI itself derives them from the security-scheme dependencies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from neo_service_layer.api.app import create_app
from neo_service_layer.api.auth import CurrentPrincipal
from neo_service_layer.api.openapi import guarded
from neo_service_layer.config import Settings


def _app() -> FastAPI:
    return create_app(Settings(data_dir=Path("/nonexistent")))


def _operations(app: FastAPI, schema: dict[str, Any]) -> dict[tuple[str, str], tuple[bool, Any]]:
    found: dict[tuple[str, str], tuple[bool, Any]] = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema:
            path = str(context.path_format)
            for method in route.methods or ():
                operation = schema["paths"][path][method.lower()]
                found[(method, path)] = (guarded(route), operation.get("security"))
    return found


def test_guarded_operations_declare_what_fastapi_derives_from_the_schemes() -> None:
    app = _app()

    # What FastAPI writes for a route that solves the schemes itself (the authenticate dependency).
    async def principal_only(principal: CurrentPrincipal) -> None: ...

    app.add_api_route("/v1/derived", principal_only, methods=["GET"])
    schema = app.openapi()
    derived = schema["paths"]["/v1/derived"]["get"]["security"]
    assert derived == [{"APIKeyHeader": []}, {"HTTPBearer": []}]
    operations = _operations(app, schema)
    assert sum(is_guarded for is_guarded, _ in operations.values()) > 50
    wrong = {
        route: security
        for route, (is_guarded, security) in operations.items()
        if route != ("GET", "/v1/derived") and security != (derived if is_guarded else None)
    }
    assert wrong == {}
    assert set(schema["components"]["securitySchemes"]) == {"APIKeyHeader", "HTTPBearer"}
    assert schema["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"


def test_the_document_is_built_once() -> None:
    app = _app()
    first = app.openapi()
    assert app.openapi() is first
    security = first["paths"]["/v1/account"]["get"]["security"]
    assert security == [{"APIKeyHeader": []}, {"HTTPBearer": []}]  # not declared twice

"""The OpenAPI document's security: every route with a declared requirement accepts the two schemes.

FastAPI derives an operation's ``security`` from the security-scheme dependencies it solves for the
route. A requirement (``api.guards.Guard``) reads the credentials itself (``api.auth.authenticate_request``,
so that FastAPI solves one dependency per request rather than four), so the schemes are added here,
as FastAPI would have written them: ``components.securitySchemes`` and, on each operation of a route
with a ``Guard``, ``security: [{"APIKeyHeader": []}, {"HTTPBearer": []}]`` (either one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.routing import APIRoute, iter_route_contexts

from neo_service_layer.api.auth import SECURITY_SCHEMES
from neo_service_layer.api.guards import Guard


def _calls(dependant: Dependant) -> Iterator[object]:
    yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def guarded(route: APIRoute) -> bool:
    """Whether ``route`` declares a requirement (so authenticates its caller through the schemes)."""
    return any(isinstance(call, Guard) for call in _calls(route.dependant))


def add_security(schema: dict[str, Any], app: FastAPI) -> None:
    """Declare the schemes in ``schema`` (the app's generated document) for every guarded operation."""
    requirement: list[dict[str, list[str]]] = [{scheme.scheme_name: []} for scheme in SECURITY_SCHEMES]
    guarded_operations = 0
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not (isinstance(route, APIRoute) and route.include_in_schema and guarded(route)):
            continue
        operations = schema["paths"][context.path_format]
        for method in route.methods or ():
            operation = operations[method.lower()]
            existing = operation.setdefault("security", [])
            existing.extend(entry for entry in requirement if entry not in existing)
            guarded_operations += 1
    if guarded_operations:
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        for scheme in SECURITY_SCHEMES:
            schemes[scheme.scheme_name] = jsonable_encoder(scheme.model, by_alias=True, exclude_none=True)


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``) declare the schemes (:func:`add_security`)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            add_security(generate(), app)  # generate() caches its document in app.openapi_schema
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend it

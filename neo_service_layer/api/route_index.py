"""Route matching that skips the routes a path cannot match, with FastAPI's own matching for the rest.

FastAPI (0.165) keeps each included router as one entry of the app's routes and matches a request by
asking every entry in turn; asking an included router walks all of its routes (and the chosen one is
walked again to handle the request). With a dozen routers that was 17 µs of CPU per
``GET /v1/account`` and 82 µs per ``POST /v1/keys/{key_id}/sign`` (the keys routers come eighth),
before any work of the route (measured in docs/performance.md).

A route can only match a path that starts with the literal part of its template (up to its first
``{``): the regex FastAPI compiles from it is anchored there. So :class:`RouteIndex` keeps, for each
entry of the app's routes, the literal prefixes of the routes it stands for, and hands FastAPI's
router only the entries with a prefix the path starts with, in their order. (Each route's own prefix,
not the one its router's routes share: the health router's share only ``/``, which every path starts
with, so it was asked, and walked, for every request.) The decision is
FastAPI's as before (the first full match, else 405 for a partial one, else the trailing-slash
redirect, else the low-priority routes, else 404): every skipped entry would have answered "no
match" for the path and for its trailing-slash variant (the prefix is taken without its trailing
``/`` for that). Anything the index cannot reason about (a route without a path, a ``root_path``,
websockets, lifespan) goes to the router unfiltered.

The index is rebuilt when routes are added to the app; routers are complete when included (as
FastAPI has always assumed: it used to copy their routes at inclusion).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRouter, iter_route_contexts
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send


def literal_prefix(path: str | None) -> str:
    """The part of a path template every matching path starts with, without a trailing ``/`` (so it
    holds for the trailing-slash redirect too); "" (matches everything) when there is no template."""
    if not path:
        return ""
    return path.partition("{")[0].rstrip("/")


def entry_prefixes(route: BaseRoute) -> tuple[str, ...]:
    """The literal prefixes of the routes an entry of the app's routes stands for (an included router
    stands for all of its routes, nested ones too): a path can only match the entry if it starts with
    one of them. Each prefix once; ``("",)`` (everything) when one is empty or there is none."""
    prefixes = {literal_prefix(context.path) for context in iter_route_contexts([route])}
    if not prefixes or "" in prefixes:
        return ("",)
    # Compared as characters, not path components: a template may continue a segment (``/v1/keys/x{key_id}``).
    return tuple(sorted(prefixes))


class _Candidates:
    """The router as its matching sees it, with only the candidate routes."""

    __slots__ = ("_router", "routes")

    def __init__(self, router: APIRouter, routes: list[BaseRoute]) -> None:
        self._router = router
        self.routes = routes

    def __getattr__(self, name: str) -> Any:
        return getattr(self._router, name)


class RouteIndex:
    """The app router's entry point (its ``middleware_stack``): FastAPI's matching over the candidates."""

    def __init__(self, router: APIRouter) -> None:
        self._router = router
        self._version: int | None = None
        self._entries: list[tuple[tuple[str, ...], BaseRoute]] = []

    def _current(self) -> list[tuple[tuple[str, ...], BaseRoute]]:
        version = self._router._routes_version
        if version != self._version:
            self._entries = [(entry_prefixes(route), route) for route in self._router.routes]
            self._version = version
        return self._entries

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        router = self._router
        if scope["type"] != "http" or scope.get("root_path"):
            await router.app(scope, receive, send)
            return
        path: str = scope["path"]
        candidates = [route for prefixes, route in self._current() if path.startswith(prefixes)]
        # Set before FastAPI would set it to the view: url_for and friends need the whole router.
        scope.setdefault("router", router)
        await APIRouter.app(_Candidates(router, candidates), scope, receive, send)  # type: ignore[arg-type]


def install(app: FastAPI) -> None:
    """Match ``app``'s requests through a :class:`RouteIndex` (after its routers are included)."""
    router = app.router
    if router.middleware_stack != router.app:
        # A router-level middleware or body limit sits there; the index would bypass it.
        raise RuntimeError("the app router's middleware_stack is not its app: not indexing its routes")
    router.middleware_stack = RouteIndex(router)

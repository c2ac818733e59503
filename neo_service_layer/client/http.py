"""The HTTP plumbing the API clients share (``FeedsClient``, ``FunctionsClient``): one ``httpx``
client (made and closed here, or the caller's), the API key header, cursor pages, and errors.

An error response is raised as :class:`ApiRequestFailed` with the problem's own ``code`` (RFC 9457
problem+json, docs/api.md) as ``api_code`` and the HTTP status as ``api_status``, so a caller branches
on them; an answer that is not problem+json is ``api_code`` ``unknown``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Self, TypedDict, Unpack

import httpx

from neo_service_layer.errors import ApiRequestFailed

API_KEY_HEADER = "X-API-Key"
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_PAGE_SIZE = 100


class RequestOptions(TypedDict, total=False):
    """What a request may carry besides its method and path."""

    params: dict[str, str] | None
    json: Any
    idempotency_key: str | None


class ApiClient:
    """A client of the API with one API key. ``http`` replaces the HTTP client (its base URL and
    headers are then the caller's, and it stays open); otherwise one is made and closed here."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        http: httpx.AsyncClient | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self._owned = http is None
        self._http = http or httpx.AsyncClient(base_url=base_url, timeout=timeout_seconds)
        self._headers = {API_KEY_HEADER: api_key}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP client if this object made it. Safe to call twice."""
        if self._owned:
            await self._http.aclose()

    async def _send(self, method: str, path: str, **options: Unpack[RequestOptions]) -> httpx.Response:
        """The successful response to one request; an error response raises ApiRequestFailed."""
        headers = dict(self._headers)
        if (idempotency_key := options.get("idempotency_key")) is not None:
            headers[IDEMPOTENCY_KEY_HEADER] = idempotency_key
        response = await self._http.request(
            method, path, params=options.get("params"), json=options.get("json"), headers=headers
        )
        if response.is_success:
            return response
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        code = problem.get("code") if isinstance(problem, dict) else None
        detail = problem.get("detail") if isinstance(problem, dict) else None
        raise ApiRequestFailed(
            f"{method} {path}: {response.status_code} {detail or response.reason_phrase}",
            api_code=code or "unknown",
            api_status=response.status_code,
        )

    async def _json(self, method: str, path: str, **options: Unpack[RequestOptions]) -> dict[str, Any]:
        """The JSON object a request answers with."""
        body: dict[str, Any] = (await self._send(method, path, **options)).json()
        return body

    async def _get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        return await self._json("GET", path, params=params)

    async def _pages(self, path: str, limit: int) -> AsyncIterator[dict[str, Any]]:
        """Every item of a cursor-paginated list, ``limit`` a page, in the API's order."""
        cursor: str | None = None
        while True:
            params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
            page = await self._get(path, params)
            for item in page["items"]:
                yield item
            cursor = page.get("next_cursor")
            if not cursor:
                return

"""Reading price feeds over the API, and verifying what is read (docs/pricefeed.md §2, §4).

::

    async with FeedsClient("https://nsl.example", api_key) as feeds:
        latest = (await feeds.feed("NEO/USD"))["latest"]
        async for round_json in feeds.rounds("NEO/USD"):
            ...
        verified = await feeds.verified_round("NEO/USD", 42, identity)   # offline-checked

Answers come back as the API sends them (JSON objects: integers as decimal text); :meth:`verified_round`
returns what the enclave signed (``client.pricefeed.verify_price_round``). An error response is raised
as :class:`ApiRequestFailed` with the API's own ``code`` (``feed_not_found``, ...) as ``api_code``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from neo_service_layer.client.attestation import VerifiedIdentity
from neo_service_layer.client.pricefeed import VerifiedPriceRound, verify_price_round
from neo_service_layer.errors import ApiRequestFailed

API_KEY_HEADER = "X-API-Key"
DEFAULT_TIMEOUT_SECONDS = 10.0


def pair_path(pair: str) -> str:
    """A pair as URLs name it: ``NEO/USD`` → ``NEO-USD``."""
    return quote(pair.replace("/", "-"), safe="-")


class FeedsClient:
    """``/v1/feeds`` read with an API key (any account's, ``pricefeed:read``). ``http`` replaces the
    HTTP client (its base URL and headers are then the caller's); otherwise one is made and closed."""

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

    async def _get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        response = await self._http.get(path, params=params, headers=self._headers)
        if response.is_success:
            body: dict[str, Any] = response.json()
            return body
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        code = problem.get("code") if isinstance(problem, dict) else None
        detail = problem.get("detail") if isinstance(problem, dict) else None
        raise ApiRequestFailed(
            f"GET {path}: {response.status_code} {detail or response.reason_phrase}",
            api_code=code or "unknown",
            api_status=response.status_code,
        )

    async def _pages(self, path: str, limit: int) -> AsyncIterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
            page = await self._get(path, params)
            for item in page["items"]:
                yield item
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def feeds(self, *, page_size: int = 100) -> AsyncIterator[dict[str, Any]]:
        """Every feed with its latest round, by pair."""
        return self._pages("/v1/feeds", page_size)

    async def feed(self, pair: str) -> dict[str, Any]:
        """One feed: its definition, ``latest`` round (answer, staleness, sources) and last observation."""
        return await self._get(f"/v1/feeds/{pair_path(pair)}")

    def rounds(self, pair: str, *, page_size: int = 100) -> AsyncIterator[dict[str, Any]]:
        """The feed's rounds, oldest first."""
        return self._pages(f"/v1/feeds/{pair_path(pair)}/rounds", page_size)

    async def round(self, pair: str, round_id: int) -> dict[str, Any]:
        """One round with its transmissions and the enclave's signed observation."""
        return await self._get(f"/v1/feeds/{pair_path(pair)}/rounds/{int(round_id)}")

    async def verified_round(
        self, pair: str, round_id: int, identity: VerifiedIdentity
    ) -> VerifiedPriceRound:
        """Round ``round_id`` of ``pair``, verified offline against ``identity``."""
        return verify_price_round(await self.round(pair, round_id), identity)

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
from typing import Any
from urllib.parse import quote

from neo_service_layer.client.attestation import VerifiedIdentity
from neo_service_layer.client.http import DEFAULT_PAGE_SIZE, ApiClient
from neo_service_layer.client.pricefeed import VerifiedPriceRound, verify_price_round


def pair_path(pair: str) -> str:
    """A pair as URLs name it: ``NEO/USD`` → ``NEO-USD``."""
    return quote(pair.replace("/", "-"), safe="-")


class FeedsClient(ApiClient):
    """``/v1/feeds`` read with an API key (any account's, ``pricefeed:read``); the HTTP client and
    errors as :class:`~neo_service_layer.client.http.ApiClient`."""

    def feeds(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[dict[str, Any]]:
        """Every feed with its latest round, by pair."""
        return self._pages("/v1/feeds", page_size)

    async def feed(self, pair: str) -> dict[str, Any]:
        """One feed: its definition, ``latest`` round (answer, staleness, sources) and last observation."""
        return await self._get(f"/v1/feeds/{pair_path(pair)}")

    def rounds(self, pair: str, *, page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[dict[str, Any]]:
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

"""The feeds an operator with the internet gets by default: NEO, GAS, BTC and ETH in USD, each from
the public exchanges that list it (to the best of our knowledge: an exchange lists and delists
markets, and a source it no longer has reports ``unknown_symbol`` in every observation).

Binance (api.binance.com) and OKX have no USD market for these coins, so their USDT markets stand in:
a USDT quote is a proxy for USD (USDT trades within a few basis points of a dollar, well inside each
feed's ``max_spread_bps``; a de-peg would show as a spread between them and the USD sources, and the
feed would stop rather than publish). Coinbase Exchange and Kraken have USD markets for BTC and ETH
only; NEO and GAS are not listed there (Kraken had them on its listing roadmap only). CoinGecko's
price is its own cross-exchange average in USD.

The service loads these into its models; the devnet points them at the local simulator with
:func:`pointed_at`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Final

from neo_service_layer.enclave.pricefeed.sources import SourceSpec

DEFAULT_DECIMALS: Final = 8
DEFAULT_DEVIATION_BPS: Final = 50
DEFAULT_HEARTBEAT_S: Final = 3600


@dataclass(frozen=True, slots=True)
class DefaultFeed:
    """One default feed: its pair, sources and the parameters the service gives it."""

    pair: str
    sources: tuple[SourceSpec, ...]
    min_sources: int
    max_spread_bps: int
    decimals: int = DEFAULT_DECIMALS
    deviation_bps: int = DEFAULT_DEVIATION_BPS
    heartbeat_s: int = DEFAULT_HEARTBEAT_S


def _source(adapter: str, symbol: str) -> SourceSpec:
    return SourceSpec(name=adapter, adapter=adapter, symbol=symbol)


DEFAULT_FEEDS: Final[Mapping[str, DefaultFeed]] = MappingProxyType(
    {
        feed.pair: feed
        for feed in (
            DefaultFeed(
                "NEO/USD",
                (_source("binance", "NEOUSDT"), _source("okx", "NEO-USDT"), _source("coingecko", "neo")),
                min_sources=2,
                max_spread_bps=200,  # thinner markets, USDT proxies: 2 %
            ),
            DefaultFeed(
                "GAS/USD",
                (_source("binance", "GASUSDT"), _source("okx", "GAS-USDT"), _source("coingecko", "gas")),
                min_sources=2,
                max_spread_bps=300,  # GAS is the thinnest of the four
            ),
            DefaultFeed(
                "BTC/USD",
                (
                    _source("coinbase", "BTC-USD"),
                    _source("kraken", "XBTUSD"),  # Kraken calls bitcoin XBT
                    _source("binance", "BTCUSDT"),
                    _source("okx", "BTC-USDT"),
                    _source("coingecko", "bitcoin"),
                ),
                min_sources=3,
                max_spread_bps=100,
            ),
            DefaultFeed(
                "ETH/USD",
                (
                    _source("coinbase", "ETH-USD"),
                    _source("kraken", "ETHUSD"),
                    _source("binance", "ETHUSDT"),
                    _source("okx", "ETH-USDT"),
                    _source("coingecko", "ethereum"),
                ),
                min_sources=3,
                max_spread_bps=100,
            ),
        )
    }
)


def pointed_at(feed: DefaultFeed, base_urls: Mapping[str, str]) -> DefaultFeed:
    """``feed`` with each source whose adapter is in ``base_urls`` sent there instead (the devnet's
    exchange simulator: ``devnet.exchanges``); the others unchanged."""
    sources = tuple(
        SourceSpec.model_validate(source.model_dump() | {"base_url": base_urls[source.adapter]})
        if source.adapter in base_urls
        else source
        for source in feed.sources
    )
    return replace(feed, sources=sources)

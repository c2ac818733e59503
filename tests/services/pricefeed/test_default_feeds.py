"""The default feeds: every source is a valid SourceSpec of a real public API, and each pair can meet
its own quorum."""

from __future__ import annotations

import pytest

from neo_service_layer.enclave.pricefeed.adapters import ADAPTERS
from neo_service_layer.enclave.pricefeed.sources import SourceSpec
from neo_service_layer.services.pricefeed.default_feeds import DEFAULT_FEEDS, DefaultFeed, pointed_at

FEEDS = [pytest.param(feed, id=pair) for pair, feed in DEFAULT_FEEDS.items()]


def test_the_four_pairs() -> None:
    assert set(DEFAULT_FEEDS) == {"NEO/USD", "GAS/USD", "BTC/USD", "ETH/USD"}
    assert all(pair == feed.pair for pair, feed in DEFAULT_FEEDS.items())


@pytest.mark.parametrize("feed", FEEDS)
def test_every_source_validates_and_the_quorum_is_reachable(feed: DefaultFeed) -> None:
    for source in feed.sources:
        assert SourceSpec.model_validate(source.model_dump()) == source
        assert source.adapter != "generic"
        assert source.base_url is None  # the real public API
        assert source.name == source.adapter
    assert len({source.name for source in feed.sources}) == len(feed.sources)
    # One source may fail without stopping the feed.
    assert 2 <= feed.min_sources < len(feed.sources)
    assert (feed.decimals, feed.deviation_bps, feed.heartbeat_s) == (8, 50, 3600)
    assert 0 < feed.max_spread_bps <= 500


@pytest.mark.parametrize("feed", FEEDS)
def test_the_urls_are_the_public_endpoints(feed: DefaultFeed) -> None:
    for source in feed.sources:
        url = ADAPTERS[source.adapter].request_url(source)
        assert url.startswith(ADAPTERS[source.adapter].default_base_url + "/")
        assert url.startswith("https://")


def test_pointed_at_moves_only_the_named_adapters() -> None:
    moved = pointed_at(
        DEFAULT_FEEDS["BTC/USD"], {"okx": "https://127.0.0.1:8443", "kraken": "https://[::1]:9"}
    )
    by_name = {source.name: source for source in moved.sources}
    assert by_name["okx"].base_url == "https://127.0.0.1:8443"
    assert by_name["kraken"].base_url == "https://[::1]:9"
    assert by_name["binance"].base_url is None
    assert moved.min_sources == DEFAULT_FEEDS["BTC/USD"].min_sources

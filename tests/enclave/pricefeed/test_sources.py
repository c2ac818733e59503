"""SourceSpec: which sources a feed may name, checked before any URL is built."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from neo_service_layer.enclave.pricefeed.sources import SourceSpec


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"adapter": "binance", "symbol": "NEOUSDT"}, id="binance"),
        pytest.param({"adapter": "coinbase", "symbol": "BTC-USD"}, id="coinbase"),
        pytest.param({"adapter": "kraken", "symbol": "XBTUSD"}, id="kraken"),
        pytest.param({"adapter": "okx", "symbol": "NEO-USDT"}, id="okx"),
        pytest.param({"adapter": "coingecko", "symbol": "wrapped-bitcoin"}, id="coingecko"),
        pytest.param(
            {"adapter": "okx", "symbol": "GAS-USDT", "base_url": "https://127.0.0.1:9443"}, id="base-url"
        ),
        pytest.param(
            {"adapter": "binance", "symbol": "NEOUSDT", "base_url": "http://localhost:80"}, id="http"
        ),
        pytest.param(
            {"adapter": "generic", "url": "https://prices.example/neo?x=1", "filter": "$.data.price"},
            id="generic",
        ),
    ],
)
def test_valid_sources(fields: dict[str, Any]) -> None:
    spec = SourceSpec(name="s1", **fields)
    assert SourceSpec.model_validate_json(spec.model_dump_json()) == spec


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"adapter": "bitstamp", "symbol": "BTCUSD"}, "unknown adapter", id="unknown-adapter"),
        pytest.param({"adapter": "binance"}, "needs a symbol", id="no-symbol"),
        pytest.param({"adapter": "binance", "symbol": "neousdt"}, "not a binance market", id="lower-case"),
        pytest.param(
            {"adapter": "binance", "symbol": "NEO&X=1"}, "not a binance market", id="query-injection"
        ),
        pytest.param({"adapter": "coinbase", "symbol": "../BTC-USD"}, "not a coinbase market", id="path"),
        pytest.param({"adapter": "coinbase", "symbol": "BTCUSD"}, "not a coinbase market", id="no-dash"),
        pytest.param({"adapter": "okx", "symbol": "BTC USDT"}, "not a okx market", id="space"),
        pytest.param({"adapter": "kraken", "symbol": "XBT/USD"}, "not a kraken market", id="slash"),
        pytest.param({"adapter": "coingecko", "symbol": "Bitcoin"}, "not a coingecko market", id="capital"),
        pytest.param({"adapter": "coingecko", "symbol": "bitcoin,ethereum"}, "coingecko", id="two-ids"),
        pytest.param(
            {"adapter": "binance", "symbol": "NEOUSDT", "url": "https://a.example/"}, "takes no url", id="url"
        ),
        pytest.param(
            {"adapter": "binance", "symbol": "NEOUSDT", "base_url": "https://a.example/?x=1"},
            "has a query",
            id="base-url-query",
        ),
        pytest.param(
            {"adapter": "binance", "symbol": "NEOUSDT", "base_url": "ftp://a.example"}, "scheme", id="ftp"
        ),
        pytest.param(
            {"adapter": "binance", "symbol": "NEOUSDT", "base_url": "https://u:p@a.example"},
            "credentials",
            id="userinfo",
        ),
        pytest.param(
            {"adapter": "generic", "url": "https://a.example/"}, "needs url and filter", id="no-filter"
        ),
        pytest.param({"adapter": "generic", "filter": "$.a"}, "needs url and filter", id="no-url"),
        pytest.param(
            {"adapter": "generic", "url": "https://a.example/", "filter": "$.a", "symbol": "X"},
            "takes no symbol",
            id="generic-symbol",
        ),
        pytest.param(
            {"adapter": "generic", "url": "https://a.example/", "filter": "$["}, "filter", id="bad-filter"
        ),
        pytest.param(
            {"adapter": "generic", "url": "https://a example/", "filter": "$.a"}, "url", id="bad-url"
        ),
    ],
)
def test_invalid_sources(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SourceSpec(name="s1", **fields)


@pytest.mark.parametrize("name", ["", "Binance", "a b", "-x", "x" * 41])
def test_source_names(name: str) -> None:
    with pytest.raises(ValidationError):
        SourceSpec(name=name, adapter="binance", symbol="NEOUSDT")


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        SourceSpec.model_validate({"name": "a", "adapter": "binance", "symbol": "NEOUSDT", "price": "1"})

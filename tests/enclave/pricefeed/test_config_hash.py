"""A feed's configHash: every rule that decides a price changes it; what only decides *when* does not."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from neo_service_layer.enclave.canonical import canonical_json
from neo_service_layer.enclave.opdefs.pricefeed import ObserveArgs
from neo_service_layer.enclave.pricefeed.config_hash import (
    CONFIG_FORMAT,
    InvalidFeedConfig,
    config_document,
    config_hash,
    config_hash_of_params,
)

SOURCES: list[dict[str, Any]] = [
    {"name": "binance", "adapter": "binance", "symbol": "NEOUSDT"},
    {"name": "okx", "adapter": "okx", "symbol": "NEO-USDT"},
    {"name": "kraken", "adapter": "kraken", "symbol": "NEOUSD"},
]
PARAMS: dict[str, Any] = {
    "feed_id": "neo-usd",
    "pair": "NEO/USD",
    "decimals": 8,
    "sources": SOURCES,
    "min_sources": 2,
    "max_quote_age_s": 60,
    "outlier_mad_k": "5",
    "max_spread_bps": 200,
    "deviation_bps": 50,
    "heartbeat_s": 3600,
    "breaker_bps": 1000,
    "last": None,
    "pending": None,
    "targets": [],
}
BASE = config_hash_of_params(PARAMS)


def _with_source(index: int, **fields: Any) -> list[dict[str, Any]]:
    return [dict(s, **fields) if i == index else s for i, s in enumerate(SOURCES)]


def test_the_hash_is_sha256_of_the_canonical_document() -> None:
    args = ObserveArgs.model_validate({**PARAMS, "account_id": "nsl-pricefeed"})
    document = config_document(args)
    assert document["format"] == CONFIG_FORMAT
    assert [s["name"] for s in document["sources"]] == ["binance", "kraken", "okx"]  # by name
    assert document["sources"][0] == {
        "name": "binance",
        "adapter": "binance",
        "symbol": "NEOUSDT",
        "base_url": None,
        "url": None,
        "filter": None,
    }
    assert config_hash(args) == hashlib.sha256(canonical_json(document)).digest() == BASE
    assert len(BASE) == 32


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"pair": "GAS/USD"}, id="pair"),
        pytest.param({"decimals": 6}, id="decimals"),
        pytest.param({"min_sources": 3}, id="min_sources"),
        pytest.param({"max_quote_age_s": 61}, id="max_quote_age_s"),
        pytest.param({"outlier_mad_k": "5.5"}, id="outlier_mad_k"),
        pytest.param({"max_spread_bps": 201}, id="max_spread_bps"),
        pytest.param({"breaker_bps": 0}, id="breaker_off"),
        pytest.param({"sources": SOURCES[:2]}, id="source-removed"),
        pytest.param({"sources": _with_source(0, base_url="https://evil.example")}, id="base_url-override"),
        pytest.param({"sources": _with_source(1, symbol="GAS-USDT")}, id="symbol"),
        pytest.param({"sources": _with_source(2, name="kraken2")}, id="source-name"),
        pytest.param(
            {
                "sources": [
                    *SOURCES[:2],
                    {"name": "kraken", "adapter": "generic", "url": "https://x.example/p", "filter": "$.p"},
                ]
            },
            id="adapter-generic",
        ),
    ],
)
def test_every_rule_that_decides_the_price_changes_the_hash(change: dict[str, Any]) -> None:
    assert config_hash_of_params({**PARAMS, **change}) != BASE


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"deviation_bps": 10}, id="deviation"),
        pytest.param({"heartbeat_s": 60}, id="heartbeat"),
        pytest.param({"feed_id": "other-id"}, id="feed_id"),
        pytest.param({"last": {"answer": 5, "observed_at": 9}}, id="last"),
        pytest.param(
            {"targets": [{"kind": "evm", "chain_id": 1, "feed": "0x" + "11" * 20, "round_id": 2}]},
            id="targets",
        ),
        pytest.param({"sources": list(reversed(SOURCES))}, id="source-order"),
        pytest.param({"outlier_mad_k": "5.000"}, id="mad-k-spelling"),
    ],
)
def test_what_only_decides_when_or_where_leaves_the_hash(change: dict[str, Any]) -> None:
    assert config_hash_of_params({**PARAMS, **change}) == BASE


def test_a_generic_source_s_url_and_filter_are_covered() -> None:
    generic = {"name": "g", "adapter": "generic", "url": "https://p.example/neo", "filter": "$.price"}
    base = config_hash_of_params({**PARAMS, "sources": [*SOURCES, generic]})
    for field, value in (("url", "https://attacker.example/neo"), ("filter", "$.other")):
        changed = dict(generic, **{field: value})
        assert config_hash_of_params({**PARAMS, "sources": [*SOURCES, changed]}) != base


@pytest.mark.parametrize(
    "change",
    [{"sources": []}, {"min_sources": 4}, {"outlier_mad_k": "0.5"}, {"decimals": 19}, {"pair": "neo"}],
    ids=["no-sources", "quorum-too-high", "mad-k-below-1", "decimals", "pair"],
)
def test_an_invalid_definition_has_no_hash(change: dict[str, Any]) -> None:
    with pytest.raises(InvalidFeedConfig) as caught:
        config_hash_of_params({**PARAMS, **change})
    assert caught.value.code == "invalid_feed_config"

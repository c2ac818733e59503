"""Exchange adapters: the URL to ask and how to read a price from the answer.

This branch carries the ``generic`` adapter only (a URL and the oracle's N3 JSONPath filter selecting one
number or numeric string); the exchange adapters (Binance, Coinbase, Kraken, OKX, CoinGecko) implement
the same :class:`Adapter` interface in their own branch, which replaces this module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Final, Protocol

from neo_service_layer.enclave.canonical import refuse_duplicate_keys
from neo_service_layer.enclave.oracle.filter import FilterError, apply_filter
from neo_service_layer.enclave.pricefeed.quote import QUOTE_REJECTION_CODES, Quote, QuoteRejected
from neo_service_layer.enclave.pricefeed.sources import SourceSpec

__all__ = [
    "ADAPTERS",
    "QUOTE_REJECTION_CODES",
    "Adapter",
    "GenericAdapter",
    "Quote",
    "QuoteRejected",
    "adapter",
]

#: Prices above this are no market's (issue 15: "absurd").
MAX_PRICE: Final = Decimal(10) ** 12
MAX_FRACTION_DIGITS: Final = 18


class Adapter(Protocol):
    name: str
    default_base_url: str

    def request_url(self, source: SourceSpec) -> str: ...

    def parse(self, body: bytes, source: SourceSpec) -> Quote: ...


def checked_price(value: object) -> Decimal:
    """``value`` (a JSON number or numeric string) as a positive, sane Decimal, else QuoteRejected."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise QuoteRejected("malformed", "the price is not a number or numeric string")
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise QuoteRejected("malformed", "the price is not a number") from None
    if not price.is_finite():
        raise QuoteRejected("absurd", "the price is not finite")
    if price == 0:
        raise QuoteRejected("zero", "the price is zero")
    if price < 0:
        raise QuoteRejected("negative", "the price is negative")
    fraction_digits = -price.normalize().as_tuple().exponent  # type: ignore[operator]
    if price > MAX_PRICE or fraction_digits > MAX_FRACTION_DIGITS:
        raise QuoteRejected("absurd", f"the price {price} is beyond any market's")
    return price


class GenericAdapter:
    """Any JSON API: ``url``, and ``filter`` (N3 JSONPath) selecting exactly one price."""

    name = "generic"
    default_base_url = ""

    def request_url(self, source: SourceSpec) -> str:
        if source.url is None:
            raise ValueError(f"source {source.name!r}: the generic adapter needs a url")
        return source.url

    def parse(self, body: bytes, source: SourceSpec) -> Quote:
        try:
            selected = apply_filter(body, source.filter)
            values = json.loads(selected, parse_float=Decimal, object_pairs_hook=refuse_duplicate_keys)
        except (FilterError, ValueError, RecursionError) as exc:
            raise QuoteRejected("malformed", "the answer is not the JSON the filter expects") from exc
        if source.filter is not None:
            if not isinstance(values, list) or len(values) != 1:
                raise QuoteRejected("malformed", "the filter must select exactly one value")
            values = values[0]
        return Quote(price=checked_price(values), quote_time=None, volume=None)


ADAPTERS: Final[Mapping[str, Adapter]] = MappingProxyType({"generic": GenericAdapter()})


def adapter(name: str) -> Adapter:
    """The adapter called ``name``; ValueError for an unknown one."""
    try:
        return ADAPTERS[name]
    except KeyError:
        raise ValueError(f"unknown adapter {name!r}; known: {sorted(ADAPTERS)}") from None

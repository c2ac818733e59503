"""Exchange adapters: where a price source's quote is fetched from, and how its answer is read.

One adapter per public API — Binance, Coinbase Exchange, Kraken, OKX, CoinGecko — each reading that
API's real response (recorded bodies: tests/enclave/pricefeed/recorded.py), and a generic one: any
URL plus the N3 oracle's JSONPath filter (:mod:`..oracle.filter`), selecting one number or numeric
string. The values are read by :mod:`.quotes` (Decimal, strict JSON, bounds).

Whatever an adapter cannot turn into a positive, sane price is a :class:`QuoteRejected` with a stable
code and a sentence saying why; the caller reports it per source. An adapter never raises anything
else on a body, whatever the body. :func:`read_quote` adds the HTTP status.
"""

from __future__ import annotations

import decimal
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Protocol
from urllib.parse import quote, urlencode

from neo_service_layer.enclave.oracle.filter import FilterError, apply_filter
from neo_service_layer.enclave.pricefeed.quotes import (
    MAX_FRACTION_DIGITS,
    MAX_PRICE,
    QUOTE_REJECTION_CODES,
    Quote,
    QuoteRejected,
    QuoteRejectionCode,
    check_price,
    field,
    iso_time,
    load_json,
    millis,
    read_price,
    read_volume,
    short,
    unix_seconds,
)

if TYPE_CHECKING:
    from neo_service_layer.enclave.pricefeed.sources import SourceSpec

__all__ = [
    "ADAPTERS",
    "MAX_FRACTION_DIGITS",
    "MAX_PRICE",
    "QUOTE_REJECTION_CODES",
    "Adapter",
    "ExchangeAdapter",
    "Quote",
    "QuoteRejected",
    "QuoteRejectionCode",
    "adapter",
    "check_price",
    "read_quote",
]


class Adapter(Protocol):
    """How one API is asked for a quote and how its answer is read."""

    name: str
    default_base_url: str

    def request_url(self, source: SourceSpec) -> str:
        """The URL to GET: the source's ``base_url`` (or :attr:`default_base_url`) + path + query."""
        ...

    def parse(self, body: bytes, source: SourceSpec) -> Quote:
        """The quote in ``body``; :class:`QuoteRejected` when there is none."""
        ...


# --- the exchanges ----------------------------------------------------------------------------------


class ExchangeAdapter:
    """What the exchange adapters share: a market symbol checked by ``symbol_pattern`` (so nothing
    odd ever reaches a URL) and the base URL."""

    name: str = ""
    default_base_url: str = ""
    symbol_pattern: re.Pattern[str] = re.compile(r"(?!)")
    symbol_example: str = ""

    def check_symbol(self, symbol: str) -> str:
        """``symbol`` if it is a market id of this exchange's form, else ValueError."""
        if not self.symbol_pattern.fullmatch(symbol):
            raise ValueError(f"{symbol!r} is not a {self.name} market symbol (e.g. {self.symbol_example!r})")
        return symbol

    def _base(self, source: SourceSpec) -> str:
        return (source.base_url or self.default_base_url).rstrip("/")

    def _symbol(self, source: SourceSpec) -> str:
        if source.symbol is None:
            raise ValueError(f"source {source.name!r}: the {self.name} adapter needs a symbol")
        return self.check_symbol(source.symbol)


class Binance(ExchangeAdapter):
    """``GET /api/v3/ticker/24hr?symbol=NEOUSDT``: ``lastPrice``, ``volume`` (base), ``closeTime`` (ms).
    An error is ``{"code": -1121, "msg": "Invalid symbol."}`` (HTTP 400)."""

    name = "binance"
    default_base_url = "https://api.binance.com"
    symbol_pattern = re.compile(r"[A-Z0-9]{2,20}")
    symbol_example = "NEOUSDT"
    _INVALID_SYMBOL: Final = -1121  # Binance's error code list: "Invalid symbol."

    def request_url(self, source: SourceSpec) -> str:
        return f"{self._base(source)}/api/v3/ticker/24hr?{urlencode({'symbol': self._symbol(source)})}"

    def parse(self, body: bytes, source: SourceSpec) -> Quote:
        data = load_json(body)
        if isinstance(data, dict) and "code" in data and "lastPrice" not in data:
            code, message = data.get("code"), short(data.get("msg", ""))
            if code == self._INVALID_SYMBOL:
                raise QuoteRejected("unknown_symbol", f"Binance does not know {source.symbol!r}: {message}")
            raise QuoteRejected("exchange_error", f"Binance answered error {short(code)}: {message}")
        symbol = field(data, "symbol", "the ticker")
        if symbol != source.symbol:
            raise QuoteRejected("malformed", f"the ticker is for {short(symbol)!r}, not {source.symbol!r}")
        return Quote(
            price=read_price(field(data, "lastPrice", "the ticker")),
            quote_time=millis(field(data, "closeTime", "the ticker"), "closeTime", text=False),
            volume=read_volume(data.get("volume")),
        )


class Coinbase(ExchangeAdapter):
    """Coinbase Exchange ``GET /products/BTC-USD/ticker``: ``price``, ``volume`` (base), ``time``
    (RFC 3339). An error is ``{"message": "NotFound"}`` (HTTP 404)."""

    name = "coinbase"
    default_base_url = "https://api.exchange.coinbase.com"
    symbol_pattern = re.compile(r"[A-Z0-9]{1,12}-[A-Z0-9]{1,12}")
    symbol_example = "BTC-USD"

    def request_url(self, source: SourceSpec) -> str:
        return f"{self._base(source)}/products/{quote(self._symbol(source), safe='')}/ticker"

    def parse(self, body: bytes, source: SourceSpec) -> Quote:
        data = load_json(body)
        if isinstance(data, dict) and "message" in data and "price" not in data:
            message = short(data["message"])
            if message == "NotFound":
                raise QuoteRejected("unknown_symbol", f"Coinbase has no product {source.symbol!r}")
            raise QuoteRejected("exchange_error", f"Coinbase answered: {message}")
        return Quote(
            price=read_price(field(data, "price", "the ticker")),
            quote_time=iso_time(field(data, "time", "the ticker"), "the ticker's time"),
            volume=read_volume(data.get("volume")),
        )


class Kraken(ExchangeAdapter):
    """``GET /0/public/Ticker?pair=XBTUSD``: ``result.<pair>.c[0]`` (last trade), ``v[1]`` (24 h
    volume), no time. The result is keyed by Kraken's own name for the pair (``XBTUSD`` answers as
    ``XXBTZUSD``), so the one entry is read. Errors are strings in ``error``
    (``EQuery:Unknown asset pair``)."""

    name = "kraken"
    default_base_url = "https://api.kraken.com"
    symbol_pattern = re.compile(r"[A-Z0-9]{4,16}")
    symbol_example = "XBTUSD"

    def request_url(self, source: SourceSpec) -> str:
        return f"{self._base(source)}/0/public/Ticker?{urlencode({'pair': self._symbol(source)})}"

    def parse(self, body: bytes, source: SourceSpec) -> Quote:
        data = load_json(body)
        errors = field(data, "error", "the answer")
        if not isinstance(errors, list):
            raise QuoteRejected("malformed", "the answer's error is not a list")
        if errors:
            message = "; ".join(short(error) for error in errors[:3])
            if any(
                isinstance(error, str) and error.startswith("EQuery:Unknown asset pair") for error in errors
            ):
                raise QuoteRejected("unknown_symbol", f"Kraken does not know {source.symbol!r}: {message}")
            raise QuoteRejected("exchange_error", f"Kraken answered: {message}")
        result = field(data, "result", "the answer")
        if not isinstance(result, dict):
            raise QuoteRejected("malformed", "the answer's result is not an object")
        if len(result) != 1:
            # One pair asked, one entry expected; several could be any market.
            if source.symbol not in result:
                raise QuoteRejected("malformed", f"the result has {len(result)} entries, not one")
            ticker = result[source.symbol]
        else:
            (ticker,) = result.values()
        last = field(ticker, "c", "the ticker")
        if not (isinstance(last, list) and last):
            raise QuoteRejected("malformed", "the ticker's c is not [price, lot volume]")
        volumes = ticker.get("v")
        if volumes is not None and not (isinstance(volumes, list) and len(volumes) == 2):
            raise QuoteRejected("malformed", "the ticker's v is not [today, 24 h]")
        return Quote(
            price=read_price(last[0]), quote_time=None, volume=read_volume(volumes[1]) if volumes else None
        )


class Okx(ExchangeAdapter):
    """``GET /api/v5/market/ticker?instId=BTC-USDT``: ``code`` "0", ``data[0].last``, ``vol24h`` (base
    currency for spot), ``ts`` (ms, a string). An error has another ``code``: ``51001`` "Instrument ID
    does not exist"."""

    name = "okx"
    default_base_url = "https://www.okx.com"
    symbol_pattern = re.compile(r"[A-Z0-9]{1,12}-[A-Z0-9]{1,12}")
    symbol_example = "BTC-USDT"
    _NO_INSTRUMENT: Final = frozenset({"51001"})

    def request_url(self, source: SourceSpec) -> str:
        return f"{self._base(source)}/api/v5/market/ticker?{urlencode({'instId': self._symbol(source)})}"

    def parse(self, body: bytes, source: SourceSpec) -> Quote:
        data = load_json(body)
        code = field(data, "code", "the answer")
        if not isinstance(code, str):
            raise QuoteRejected("malformed", "the answer's code is not a string")
        if code != "0":
            message = short(data.get("msg", ""))
            if code in self._NO_INSTRUMENT:
                raise QuoteRejected("unknown_symbol", f"OKX does not know {source.symbol!r}: {message}")
            raise QuoteRejected("exchange_error", f"OKX answered code {short(code)}: {message}")
        tickers = field(data, "data", "the answer")
        if not isinstance(tickers, list):
            raise QuoteRejected("malformed", "the answer's data is not a list")
        if not tickers:
            raise QuoteRejected("unknown_symbol", f"OKX has no ticker for {source.symbol!r}")
        ticker = tickers[0]
        instrument = field(ticker, "instId", "the ticker")
        if instrument != source.symbol:
            raise QuoteRejected(
                "malformed", f"the ticker is for {short(instrument)!r}, not {source.symbol!r}"
            )
        return Quote(
            price=read_price(field(ticker, "last", "the ticker")),
            quote_time=millis(field(ticker, "ts", "the ticker"), "ts", text=True),
            volume=read_volume(ticker.get("vol24h")),
        )


class CoinGecko(ExchangeAdapter):
    """``GET /api/v3/simple/price?ids=bitcoin&vs_currencies=usd&...``: ``<id>.usd`` (a JSON number),
    ``usd_24h_vol``, ``last_updated_at`` (s). Prices are in USD (the feeds are X/USD). An unknown id
    is simply absent (``{}``); errors are ``{"status": {"error_code": ..., "error_message": ...}}`` or
    ``{"error": "..."}``.

    CoinGecko's volume is in USD: it is turned into base units (÷ price, 8 decimals) so that
    :attr:`Quote.volume` means the same for every source."""

    name = "coingecko"
    default_base_url = "https://api.coingecko.com"
    symbol_pattern = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
    symbol_example = "bitcoin"
    vs_currency: Final = "usd"

    def request_url(self, source: SourceSpec) -> str:
        query = {
            "ids": self._symbol(source),
            "vs_currencies": self.vs_currency,
            "include_last_updated_at": "true",
            "include_24hr_vol": "true",
        }
        return f"{self._base(source)}/api/v3/simple/price?{urlencode(query)}"

    def parse(self, body: bytes, source: SourceSpec) -> Quote:
        data = load_json(body)
        if not isinstance(data, dict):
            raise QuoteRejected("malformed", "the answer is not a JSON object")
        if "status" in data and isinstance(data["status"], dict) and source.symbol not in data:
            status = data["status"]
            message = short(status.get("error_message", ""))
            raise QuoteRejected(
                "exchange_error", f"CoinGecko answered {short(status.get('error_code'))}: {message}"
            )
        if "error" in data and source.symbol not in data:
            raise QuoteRejected("exchange_error", f"CoinGecko answered: {short(data['error'])}")
        entry = data.get(source.symbol)
        if entry is None or (isinstance(entry, dict) and self.vs_currency not in entry):
            raise QuoteRejected(
                "unknown_symbol", f"CoinGecko has no {self.vs_currency} price for {source.symbol!r}"
            )
        usd = read_price(field(entry, self.vs_currency, "the coin"), text=False)
        updated = field(entry, "last_updated_at", "the coin")
        if isinstance(updated, bool) or not isinstance(updated, int):
            raise QuoteRejected("malformed", "last_updated_at is not an integer")
        quote_volume = read_volume(entry.get(f"{self.vs_currency}_24h_vol"), text=False)
        base_volume = None
        if quote_volume is not None:
            with decimal.localcontext(prec=60):
                base_volume = (quote_volume / usd).quantize(Decimal("1e-8"), rounding=decimal.ROUND_HALF_EVEN)
        return Quote(price=usd, quote_time=unix_seconds(updated, "last_updated_at"), volume=base_volume)


class Generic:
    """Any HTTPS JSON API: the source's ``url`` and ``filter`` (the N3 oracle's JSONPath,
    :func:`..oracle.filter.apply_filter`), which must select exactly one number or numeric string.

    As on the N3 oracle, a JSON number passes through the filter as a float64 (shortest digits): a
    price in a string is exact, one in a number keeps about 17 significant digits."""

    name = "generic"
    default_base_url = ""

    def request_url(self, source: SourceSpec) -> str:
        if source.url is None:
            raise ValueError(f"source {source.name!r}: the generic adapter needs a url")
        return source.url

    def parse(self, body: bytes, source: SourceSpec) -> Quote:
        if source.filter is None:
            raise ValueError(f"source {source.name!r}: the generic adapter needs a filter")
        try:
            selected = apply_filter(body, source.filter)
        except FilterError as e:
            raise QuoteRejected("malformed", f"the filter failed: {e.detail}") from None
        values = json.loads(selected, parse_float=Decimal)  # the filter's own output: valid JSON
        if len(values) != 1:
            raise QuoteRejected("malformed", f"the filter selected {len(values)} values, not one")
        (value,) = values
        return Quote(price=read_price(value, text=isinstance(value, str)), quote_time=None, volume=None)


ADAPTERS: Final[Mapping[str, Adapter]] = MappingProxyType(
    {a.name: a for a in (Binance(), Coinbase(), Kraken(), Okx(), CoinGecko(), Generic())}
)


def adapter(name: str) -> Adapter:
    """The adapter called ``name``; ValueError for a name that is none of :data:`ADAPTERS`."""
    try:
        return ADAPTERS[name]
    except KeyError:
        raise ValueError(f"unknown price adapter {name!r} (known: {', '.join(ADAPTERS)})") from None


def read_quote(source: SourceSpec, status: int, body: bytes) -> Quote:
    """The quote in a fetched answer (HTTP ``status``, ``body``) for ``source``.

    A status other than 200 is never a quote: the exchange's error body says why when it can
    (``unknown_symbol`` for Binance's 400 "Invalid symbol.", Coinbase's 404 "NotFound"; else
    ``exchange_error``), and any other body is ``exchange_error`` "HTTP <status>". So a fetcher may hand
    back every status (``FetchPolicy(fail_on_status=False)``) and the report still says what happened.
    """
    parser = adapter(source.adapter)
    try:
        quote = parser.parse(body, source)
    except QuoteRejected as e:
        if status == 200 or e.code in ("unknown_symbol", "exchange_error"):
            raise
        raise QuoteRejected("exchange_error", f"HTTP {status} with no readable error") from None
    if status != 200:
        raise QuoteRejected("exchange_error", f"HTTP {status}, though the body reads as a quote")
    return quote

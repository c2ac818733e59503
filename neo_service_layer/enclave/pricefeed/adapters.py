"""Exchange adapters: where a price source's quote is fetched from, and how its answer is read.

One adapter per public API — Binance, Coinbase Exchange, Kraken, OKX, CoinGecko — each reading that
API's real response (a recorded body of each is in tests/enclave/pricefeed/test_adapters.py), and a
generic one: any URL plus the N3 oracle's JSONPath filter (:mod:`..oracle.filter`), selecting one
number or numeric string.

Prices are :class:`~decimal.Decimal` from the text on (``parse_float=Decimal``; the exchanges send
strings), never floats. The JSON is read strictly: a duplicate key or a bare ``NaN`` is malformed
(:mod:`..canonical`'s hooks). Whatever an adapter cannot turn into a positive, sane price is a
:class:`QuoteRejected` with a stable code and a sentence saying why; the caller reports it per source.
An adapter never raises anything else on a body, whatever the body.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Protocol
from urllib.parse import quote, urlencode

from neo_service_layer.enclave.canonical import refuse_constants, refuse_duplicate_keys
from neo_service_layer.enclave.oracle.filter import FilterError, apply_filter

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
    "adapter",
    "check_price",
]

QUOTE_REJECTION_CODES: Final = ("malformed", "unknown_symbol", "zero", "negative", "absurd", "exchange_error")
MAX_PRICE: Final = Decimal(10) ** 12
"""Above this no asset's price is believed: a unit mix-up or a broken feed, not a market."""
MAX_FRACTION_DIGITS: Final = 18
"""Significant fractional digits a price may carry (wei precision): more is noise or an attack on cost."""
# Bounds on a volume's or timestamp's text: generous for any market, small enough to stay cheap.
_MAX_VOLUME_DIGITS: Final = 40
_MAX_UNIX_SECONDS: Final = 10**11  # the year 5138: a timestamp beyond is a unit error
_DETAIL_CHARS: Final = 160  # how much of an exchange's own error message a detail quotes

# A plain decimal number as text (what every exchange sends): Decimal() alone would also take
# "1_000", " 1 " and "NaN", which no exchange means as a price.
# The exponent is bounded: Decimal() refuses "1e" followed by 25 digits, and nothing real needs them.
_NUMBER: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,6})?")
_NOT_FINITE: Final = re.compile(r"[+-]?(?:s?nan|inf(?:inity)?)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Quote:
    """One source's answer: a price in the quote currency, when the exchange says it is from, and
    the 24 h base volume where the API gives it."""

    price: Decimal
    quote_time: int | None
    volume: Decimal | None


class QuoteRejected(Exception):
    """The body gives no usable quote. ``code`` is one of :data:`QUOTE_REJECTION_CODES`; ``detail`` is
    a sentence for the operator."""

    def __init__(self, code: str, detail: str) -> None:
        if code not in QUOTE_REJECTION_CODES:
            raise ValueError(f"unknown quote rejection code {code!r}")
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


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


# --- reading values ---------------------------------------------------------------------------------


def _load(body: bytes) -> Any:
    """``body`` as strict JSON, floats as Decimal; malformed when it is not."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise QuoteRejected("malformed", "the body is not UTF-8") from None
    try:
        return json.loads(
            text,
            parse_float=Decimal,
            object_pairs_hook=refuse_duplicate_keys,
            parse_constant=refuse_constants,
        )
    except (ValueError, RecursionError) as e:
        # ValueError covers JSONDecodeError, a duplicate key, NaN, and an int over Python's digit limit.
        raise QuoteRejected("malformed", f"the body is not JSON ({_short(str(e))})") from None


def _short(text: object) -> str:
    """An exchange's own message, shortened and made printable, for a detail."""
    cleaned = "".join(c if c.isprintable() else "?" for c in str(text))
    return cleaned if len(cleaned) <= _DETAIL_CHARS else cleaned[: _DETAIL_CHARS - 1] + "…"


def _field(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, dict):
        raise QuoteRejected("malformed", f"{where} is not a JSON object")
    if key not in mapping:
        raise QuoteRejected("malformed", f"{where} has no {key!r}")
    return mapping[key]


def _number(value: Any, what: str, *, text: bool) -> Decimal:
    """A JSON number (``text`` False) or numeric string (``text`` True) as Decimal; a value of the
    wrong kind is malformed, a non-finite one absurd."""
    if text:
        if not isinstance(value, str):
            raise QuoteRejected("malformed", f"{what} is not a numeric string")
        if _NOT_FINITE.fullmatch(value):
            raise QuoteRejected("absurd", f"{what} is {value!r}, not a number")
        if not _NUMBER.fullmatch(value):
            raise QuoteRejected("malformed", f"{what} {_short(repr(value))} is not a decimal number")
        return Decimal(value)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise QuoteRejected("malformed", f"{what} is not a JSON number")
    return Decimal(value)


def _fraction_digits(value: Decimal) -> int:
    """Significant digits after the point (trailing zeros do not count), without rounding."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -(exponent + trailing)) if any(digits) else 0


def check_price(value: Decimal, what: str = "the price") -> Decimal:
    """``value`` if it is a believable price; else QuoteRejected: absurd (not finite, over
    :data:`MAX_PRICE`, more than :data:`MAX_FRACTION_DIGITS` fractional digits), zero or negative."""
    if not value.is_finite():
        raise QuoteRejected("absurd", f"{what} is {value}, not a number")
    if value.is_zero():
        raise QuoteRejected("zero", f"{what} is zero")
    if value.is_signed():
        raise QuoteRejected("negative", f"{what} is negative ({value})")
    if value > MAX_PRICE:
        raise QuoteRejected("absurd", f"{what} is over 10^12")
    if _fraction_digits(value) > MAX_FRACTION_DIGITS:
        raise QuoteRejected("absurd", f"{what} has more than {MAX_FRACTION_DIGITS} fractional digits")
    return value


def _price(value: Any, *, text: bool = True) -> Decimal:
    return check_price(_number(value, "the price", text=text))


def _volume(value: Any, *, text: bool = True) -> Decimal | None:
    """A 24 h volume: None when the API gives none (null); a negative or huge one is malformed."""
    if value is None:
        return None
    if text and isinstance(value, str) and _NOT_FINITE.fullmatch(value):
        raise QuoteRejected("malformed", f"the volume is {value!r}")
    volume = _number(value, "the volume", text=text)
    if volume.is_signed() or len(volume.as_tuple().digits) > _MAX_VOLUME_DIGITS:
        raise QuoteRejected("malformed", f"the volume {volume} is negative or too long")
    if abs(volume.adjusted()) > _MAX_VOLUME_DIGITS:
        raise QuoteRejected("malformed", "the volume's exponent is out of range")
    return volume


def _unix_seconds(seconds: int, what: str) -> int:
    if not 0 < seconds < _MAX_UNIX_SECONDS:
        raise QuoteRejected("malformed", f"{what} {seconds} is not a Unix time")
    return seconds


def _millis(value: Any, what: str, *, text: bool) -> int:
    """Unix milliseconds (a JSON integer, or its decimal string) as whole seconds."""
    if text:
        if not (isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 16):
            raise QuoteRejected("malformed", f"{what} is not a millisecond timestamp string")
        value = int(value)
    elif isinstance(value, bool) or not isinstance(value, int):
        raise QuoteRejected("malformed", f"{what} is not an integer")
    return _unix_seconds(value // 1000, what)


_ISO_8601: Final = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")


def _iso_time(value: Any, what: str) -> int:
    """An RFC 3339 time (``2020-03-20T00:22:57.833897Z``) as whole Unix seconds (fraction dropped)."""
    match = _ISO_8601.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise QuoteRejected("malformed", f"{what} is not an RFC 3339 time")
    zone = "+00:00" if match[3] == "Z" else match[3]
    try:
        moment = dt.datetime.fromisoformat(match[1] + zone)
    except ValueError:
        raise QuoteRejected("malformed", f"{what} is not a valid date and time") from None
    return _unix_seconds(int(moment.timestamp()), what)


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
        data = _load(body)
        if isinstance(data, dict) and "code" in data and "lastPrice" not in data:
            code, message = data.get("code"), _short(data.get("msg", ""))
            if code == self._INVALID_SYMBOL:
                raise QuoteRejected("unknown_symbol", f"Binance does not know {source.symbol!r}: {message}")
            raise QuoteRejected("exchange_error", f"Binance answered error {_short(code)}: {message}")
        symbol = _field(data, "symbol", "the ticker")
        if symbol != source.symbol:
            raise QuoteRejected("malformed", f"the ticker is for {_short(symbol)!r}, not {source.symbol!r}")
        return Quote(
            price=_price(_field(data, "lastPrice", "the ticker")),
            quote_time=_millis(_field(data, "closeTime", "the ticker"), "closeTime", text=False),
            volume=_volume(data.get("volume")),
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
        data = _load(body)
        if isinstance(data, dict) and "message" in data and "price" not in data:
            message = _short(data["message"])
            if message == "NotFound":
                raise QuoteRejected("unknown_symbol", f"Coinbase has no product {source.symbol!r}")
            raise QuoteRejected("exchange_error", f"Coinbase answered: {message}")
        return Quote(
            price=_price(_field(data, "price", "the ticker")),
            quote_time=_iso_time(_field(data, "time", "the ticker"), "the ticker's time"),
            volume=_volume(data.get("volume")),
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
        data = _load(body)
        errors = _field(data, "error", "the answer")
        if not isinstance(errors, list):
            raise QuoteRejected("malformed", "the answer's error is not a list")
        if errors:
            message = "; ".join(_short(error) for error in errors[:3])
            if any(
                isinstance(error, str) and error.startswith("EQuery:Unknown asset pair") for error in errors
            ):
                raise QuoteRejected("unknown_symbol", f"Kraken does not know {source.symbol!r}: {message}")
            raise QuoteRejected("exchange_error", f"Kraken answered: {message}")
        result = _field(data, "result", "the answer")
        if not isinstance(result, dict):
            raise QuoteRejected("malformed", "the answer's result is not an object")
        if len(result) != 1:
            # One pair asked, one entry expected; several could be any market.
            if source.symbol not in result:
                raise QuoteRejected("malformed", f"the result has {len(result)} entries, not one")
            ticker = result[source.symbol]
        else:
            (ticker,) = result.values()
        last = _field(ticker, "c", "the ticker")
        if not (isinstance(last, list) and last):
            raise QuoteRejected("malformed", "the ticker's c is not [price, lot volume]")
        volumes = ticker.get("v")
        if volumes is not None and not (isinstance(volumes, list) and len(volumes) == 2):
            raise QuoteRejected("malformed", "the ticker's v is not [today, 24 h]")
        return Quote(price=_price(last[0]), quote_time=None, volume=_volume(volumes[1]) if volumes else None)


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
        data = _load(body)
        code = _field(data, "code", "the answer")
        if not isinstance(code, str):
            raise QuoteRejected("malformed", "the answer's code is not a string")
        if code != "0":
            message = _short(data.get("msg", ""))
            if code in self._NO_INSTRUMENT:
                raise QuoteRejected("unknown_symbol", f"OKX does not know {source.symbol!r}: {message}")
            raise QuoteRejected("exchange_error", f"OKX answered code {_short(code)}: {message}")
        tickers = _field(data, "data", "the answer")
        if not isinstance(tickers, list):
            raise QuoteRejected("malformed", "the answer's data is not a list")
        if not tickers:
            raise QuoteRejected("unknown_symbol", f"OKX has no ticker for {source.symbol!r}")
        ticker = tickers[0]
        instrument = _field(ticker, "instId", "the ticker")
        if instrument != source.symbol:
            raise QuoteRejected(
                "malformed", f"the ticker is for {_short(instrument)!r}, not {source.symbol!r}"
            )
        return Quote(
            price=_price(_field(ticker, "last", "the ticker")),
            quote_time=_millis(_field(ticker, "ts", "the ticker"), "ts", text=True),
            volume=_volume(ticker.get("vol24h")),
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
        data = _load(body)
        if not isinstance(data, dict):
            raise QuoteRejected("malformed", "the answer is not a JSON object")
        if "status" in data and isinstance(data["status"], dict) and source.symbol not in data:
            status = data["status"]
            message = _short(status.get("error_message", ""))
            raise QuoteRejected(
                "exchange_error", f"CoinGecko answered {_short(status.get('error_code'))}: {message}"
            )
        if "error" in data and source.symbol not in data:
            raise QuoteRejected("exchange_error", f"CoinGecko answered: {_short(data['error'])}")
        entry = data.get(source.symbol)
        if entry is None or (isinstance(entry, dict) and self.vs_currency not in entry):
            raise QuoteRejected(
                "unknown_symbol", f"CoinGecko has no {self.vs_currency} price for {source.symbol!r}"
            )
        price = _price(_field(entry, self.vs_currency, "the coin"), text=False)
        updated = _field(entry, "last_updated_at", "the coin")
        if isinstance(updated, bool) or not isinstance(updated, int):
            raise QuoteRejected("malformed", "last_updated_at is not an integer")
        quote_volume = _volume(entry.get(f"{self.vs_currency}_24h_vol"), text=False)
        volume = None
        if quote_volume is not None:
            with decimal.localcontext(prec=60):
                volume = (quote_volume / price).quantize(Decimal("1e-8"), rounding=decimal.ROUND_HALF_EVEN)
        return Quote(price=price, quote_time=_unix_seconds(updated, "last_updated_at"), volume=volume)


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
        return Quote(price=_price(value, text=isinstance(value, str)), quote_time=None, volume=None)


ADAPTERS: Final[Mapping[str, Adapter]] = MappingProxyType(
    {a.name: a for a in (Binance(), Coinbase(), Kraken(), Okx(), CoinGecko(), Generic())}
)


def adapter(name: str) -> Adapter:
    """The adapter called ``name``; ValueError for a name that is none of :data:`ADAPTERS`."""
    try:
        return ADAPTERS[name]
    except KeyError:
        raise ValueError(f"unknown price adapter {name!r} (known: {', '.join(ADAPTERS)})") from None

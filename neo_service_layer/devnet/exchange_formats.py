"""The five exchanges' answers, written as the real APIs write them, for the local simulator
(:mod:`.exchanges`): the same fields, types, number formats and error bodies (and statuses) as
``api.binance.com``, ``api.exchange.coinbase.com``, ``api.kraken.com``, ``www.okx.com`` and
``api.coingecko.com``. ``enclave.pricefeed.adapters`` reads them; tests/devnet/test_exchanges.py checks
both sides agree.

A price is printed with the exchange's usual precision (Binance 8 decimals, Kraken 5, the others as
given), so a price with more digits is rounded as that exchange's tick size would.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Protocol

type Answer = tuple[int, bytes]  # HTTP status and JSON body

DAY_MS: Final = 86_400_000


@dataclass(frozen=True, slots=True)
class Tick:
    """What a simulated market shows: last price, when (Unix seconds), 24 h base volume."""

    price: Decimal
    time: int
    volume: Decimal


def _plain(value: Decimal) -> str:
    """``value`` without exponent or trailing zeros (``97031.20`` → ``97031.2``)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _fixed(value: Decimal, places: int) -> str:
    return format(value, f".{places}f")


def _json(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


class ExchangeFormat(Protocol):
    """How one exchange answers: a ticker, an unknown market, a refusal, a failure."""

    name: str

    def ticker(self, symbol: str, tick: Tick) -> Answer: ...
    def unknown(self, symbol: str) -> Answer: ...
    def error(self) -> Answer: ...
    def server_error(self) -> Answer: ...


class BinanceFormat:
    name = "binance"

    def ticker(self, symbol: str, tick: Tick) -> Answer:
        close_ms = tick.time * 1000 + 1
        price = _fixed(tick.price, 8)
        return 200, _json(
            {
                "symbol": symbol,
                "priceChange": "0.00000000",
                "priceChangePercent": "0.000",
                "weightedAvgPrice": price,
                "prevClosePrice": price,
                "lastPrice": price,
                "lastQty": "1.00000000",
                "bidPrice": price,
                "bidQty": "100.00000000",
                "askPrice": price,
                "askQty": "100.00000000",
                "openPrice": price,
                "highPrice": price,
                "lowPrice": price,
                "volume": _fixed(tick.volume, 8),
                "quoteVolume": _fixed(tick.volume * tick.price, 8),
                "openTime": close_ms - DAY_MS,
                "closeTime": close_ms,
                "firstId": 1,
                "lastId": 1000,
                "count": 1000,
            }
        )

    def unknown(self, symbol: str) -> Answer:
        return 400, _json({"code": -1121, "msg": "Invalid symbol."})

    def error(self) -> Answer:
        return 429, _json(
            {"code": -1003, "msg": "Too many requests; current limit is 6000 request weight per 1 MINUTE."}
        )

    def server_error(self) -> Answer:
        return 500, _json({"code": -1000, "msg": "An unknown error occurred while processing the request."})


class CoinbaseFormat:
    name = "coinbase"

    def ticker(self, symbol: str, tick: Tick) -> Answer:
        moment = dt.datetime.fromtimestamp(tick.time, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        price = _plain(tick.price)
        return 200, _json(
            {
                "ask": price,
                "bid": price,
                "volume": _fixed(tick.volume, 8),
                "trade_id": 1000,
                "price": price,
                "size": "0.01000000",
                "time": moment,
                "rfq_volume": "0",
                "conversions_volume": "0",
            }
        )

    def unknown(self, symbol: str) -> Answer:
        return 404, _json({"message": "NotFound"})

    def error(self) -> Answer:
        return 429, _json({"message": "Public rate limit exceeded"})

    def server_error(self) -> Answer:
        return 500, _json({"message": "Internal server error"})


# Kraken answers under its own names for some pairs (the X/Z-prefixed legacy ones).
KRAKEN_NAMES: Final[Mapping[str, str]] = {"XBTUSD": "XXBTZUSD", "ETHUSD": "XETHZUSD", "XBTEUR": "XXBTZEUR"}


class KrakenFormat:
    name = "kraken"

    def ticker(self, symbol: str, tick: Tick) -> Answer:
        price, volume = _fixed(tick.price, 5), _fixed(tick.volume, 8)
        entry = {
            "a": [price, "1", "1.000"],
            "b": [price, "1", "1.000"],
            "c": [price, "0.01000000"],
            "v": [volume, volume],
            "p": [price, price],
            "t": [1000, 1000],
            "l": [price, price],
            "h": [price, price],
            "o": price,
        }
        return 200, _json({"error": [], "result": {KRAKEN_NAMES.get(symbol, symbol): entry}})

    def unknown(self, symbol: str) -> Answer:
        return 200, _json({"error": ["EQuery:Unknown asset pair"]})

    def error(self) -> Answer:
        return 200, _json({"error": ["EService:Unavailable"]})

    def server_error(self) -> Answer:
        return 500, _json({"error": ["EService:Internal error"]})


class OkxFormat:
    name = "okx"

    def ticker(self, symbol: str, tick: Tick) -> Answer:
        price = _plain(tick.price)
        data = {
            "instType": "SPOT",
            "instId": symbol,
            "last": price,
            "lastSz": "0.01",
            "askPx": price,
            "askSz": "1",
            "bidPx": price,
            "bidSz": "1",
            "open24h": price,
            "high24h": price,
            "low24h": price,
            "volCcy24h": _plain(tick.volume * tick.price),
            "vol24h": _plain(tick.volume),
            "ts": str(tick.time * 1000),
            "sodUtc0": price,
            "sodUtc8": price,
        }
        return 200, _json({"code": "0", "msg": "", "data": [data]})

    def unknown(self, symbol: str) -> Answer:
        return 200, _json({"code": "51001", "data": [], "msg": "Instrument ID does not exist"})

    def error(self) -> Answer:
        return 200, _json(
            {"code": "50001", "data": [], "msg": "Service temporarily unavailable. Try again later"}
        )

    def server_error(self) -> Answer:
        return 500, _json({"code": "50000", "data": [], "msg": "System error"})


class CoinGeckoFormat:
    """``/simple/price`` answers for several ids at once, so :meth:`entry` writes one id's member and
    :meth:`ticker` (one id) wraps it; prices are JSON numbers, the volume in USD."""

    name = "coingecko"

    def entry(self, tick: Tick, *, volume: bool, updated: bool) -> str:
        members = [f'"usd":{_plain(tick.price)}']
        if volume:
            members.append(f'"usd_24h_vol":{_plain(tick.volume * tick.price)}')
        if updated:
            members.append(f'"last_updated_at":{tick.time}')
        return "{" + ",".join(members) + "}"

    def ticker(self, symbol: str, tick: Tick) -> Answer:
        return 200, f'{{"{symbol}":{self.entry(tick, volume=True, updated=True)}}}'.encode()

    def unknown(self, symbol: str) -> Answer:
        return 200, b"{}"

    def error(self) -> Answer:
        message = (
            "You've exceeded the Rate Limit. Please visit https://www.coingecko.com/en/api/pricing "
            "to subscribe to our API plans for higher rate limits."
        )
        return 429, _json({"status": {"error_code": 429, "error_message": message}})

    def server_error(self) -> Answer:
        return 500, _json({"status": {"error_code": 500, "error_message": "Internal Server Error"}})


FORMATS: Final[Mapping[str, ExchangeFormat]] = {
    f.name: f for f in (BinanceFormat(), CoinbaseFormat(), KrakenFormat(), OkxFormat(), CoinGeckoFormat())
}

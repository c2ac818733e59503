"""The exchange simulator's state (:mod:`.exchanges`): a price table keyed by (exchange, symbol) and the
misbehaviour switches, shared by the server's thread and whoever drives it (a test, the control API).

Markets default to those of the default feeds (``services.pricefeed.default_feeds``) at
:data:`DEFAULT_PRICES`; a pair's markets form a group that the random walk moves together, so the
sources of one feed stay within its spread while the price drifts.
"""

from __future__ import annotations

import decimal
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Final

from neo_service_layer.devnet.exchange_formats import FORMATS, Tick
from neo_service_layer.services.pricefeed.default_feeds import DEFAULT_FEEDS

EXCHANGES: Final = tuple(FORMATS)
DEFAULT_PRICES: Final = {
    "NEO/USD": Decimal("12.21"),
    "GAS/USD": Decimal("4.56"),
    "BTC/USD": Decimal("97000.5"),
    "ETH/USD": Decimal("3900.25"),
}
DEFAULT_VOLUME: Final = Decimal("123456.78")
DEFAULT_STALE_SECONDS: Final = 3600
DEFAULT_SLOW_SECONDS: Final = 5.0
DEFAULT_WALK_BPS: Final = 20  # the largest step of the walk, in basis points
DEFAULT_WALK_INTERVAL: Final = 5.0
ABSURD_FACTOR: Final = Decimal(10) ** 13  # any real price times this is over the adapters' 10^12
_PLACES: Final = Decimal("1e-8")


class Mode(StrEnum):
    NORMAL = "normal"
    MALFORMED = "malformed"  # the ticker cut in half
    STALE = "stale"  # the time stale_seconds in the past
    ZERO = "zero"
    NEGATIVE = "negative"
    ABSURD = "absurd"  # the price times 10^13
    HTTP_500 = "http_500"  # the exchange's internal-error answer
    ERROR = "error"  # the exchange's own refusal (rate limit, unavailable)
    SLOW = "slow"  # the normal answer after slow_seconds


@dataclass(frozen=True, slots=True)
class Listing:
    """One market of the table. ``time`` None: the answer's moment. ``group`` ties markets that move
    together in the walk (one pair on several exchanges)."""

    price: Decimal
    time: int | None = None
    volume: Decimal = DEFAULT_VOLUME
    group: str | None = None


def default_listings() -> dict[tuple[str, str], Listing]:
    """Every market of the default feeds (``services.pricefeed.default_feeds``) at :data:`DEFAULT_PRICES`."""
    return {
        (source.adapter, source.symbol): Listing(DEFAULT_PRICES[pair], group=pair)
        for pair, feed in DEFAULT_FEEDS.items()
        for source in feed.sources
        if source.symbol is not None
    }


class Market:
    """The simulator's table and misbehaviour switches, shared by the server's thread and its users."""

    def __init__(
        self,
        listings: dict[tuple[str, str], Listing] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._initial = dict(default_listings() if listings is None else listings)
        # Guards _listings, _modes and the two durations: the server's loop reads them per request
        # while a test or the control API writes them from elsewhere.
        self._lock = threading.Lock()
        self._listings: dict[tuple[str, str], Listing] = {}
        self._modes: dict[tuple[str, str | None], Mode] = {}
        self.stale_seconds = DEFAULT_STALE_SECONDS
        self.slow_seconds = DEFAULT_SLOW_SECONDS
        self.reset()

    def reset(self) -> None:
        """Back to the initial table, every exchange behaving, the default durations."""
        with self._lock:
            self._listings = dict(self._initial)
            self._modes.clear()
            self.stale_seconds, self.slow_seconds = DEFAULT_STALE_SECONDS, DEFAULT_SLOW_SECONDS

    def set_price(
        self,
        exchange: str,
        symbol: str,
        price: Decimal,
        *,
        time: int | None = None,
        volume: Decimal | None = None,
    ) -> None:
        """List ``symbol`` on ``exchange`` at ``price`` (any Decimal: the modes make the odd ones);
        ``time`` None answers with the current time; the volume and walk group are kept if listed."""
        _check_exchange(exchange)
        with self._lock:
            old = self._listings.get((exchange, symbol), Listing(price))
            self._listings[(exchange, symbol)] = replace(
                old, price=price, time=time, volume=old.volume if volume is None else volume
            )

    def delist(self, exchange: str, symbol: str) -> None:
        """Remove a market: the exchange answers it as an unknown symbol."""
        with self._lock:
            self._listings.pop((exchange, symbol), None)

    def misbehave(self, exchange: str, mode: Mode | str, *, symbol: str | None = None) -> None:
        """Make ``exchange`` (every market, or only ``symbol``) answer in ``mode``; NORMAL restores it."""
        _check_exchange(exchange)
        with self._lock:
            if Mode(mode) is Mode.NORMAL:
                self._modes.pop((exchange, symbol), None)
            else:
                self._modes[(exchange, symbol)] = Mode(mode)

    def listing(self, exchange: str, symbol: str) -> Listing | None:
        with self._lock:
            return self._listings.get((exchange, symbol))

    def mode(self, exchange: str, symbol: str | None) -> Mode:
        """The market's own mode, else the exchange's."""
        with self._lock:
            return self._modes.get((exchange, symbol)) or self._modes.get((exchange, None), Mode.NORMAL)

    def tick(self, exchange: str, symbol: str) -> Tick | None:
        """What the market shows now, the mode's price or time applied; None when it is not listed."""
        with self._lock:
            listing = self._listings.get((exchange, symbol))
            mode = self._modes.get((exchange, symbol)) or self._modes.get((exchange, None), Mode.NORMAL)
            stale = self.stale_seconds
        if listing is None:
            return None
        moment = int(self._clock()) if listing.time is None else listing.time
        price = {
            Mode.ZERO: Decimal(0),
            Mode.NEGATIVE: -listing.price,
            Mode.ABSURD: listing.price * ABSURD_FACTOR,
        }.get(mode, listing.price)
        return Tick(price, moment - stale if mode is Mode.STALE else moment, listing.volume)

    def walk(self, rng: random.Random, max_bps: int = DEFAULT_WALK_BPS) -> None:
        """One step of the random walk: each group (else each market) moves by the same random
        -max_bps..+max_bps basis points on every exchange, so a pair's sources stay together."""
        with self._lock:
            steps: dict[object, Decimal] = {}
            for key, listing in self._listings.items():
                group = listing.group or key
                if group not in steps:
                    steps[group] = 1 + Decimal(rng.randint(-max_bps, max_bps)) / 10_000
                with decimal.localcontext(prec=40):
                    moved = (listing.price * steps[group]).quantize(_PLACES)
                if moved > 0:
                    self._listings[key] = replace(listing, price=moved)

    def snapshot(self) -> dict[str, object]:
        """The table and switches, as ``GET /_sim/state`` shows them."""
        with self._lock:
            prices = [
                {
                    "exchange": e,
                    "symbol": s,
                    "price": str(item.price),
                    "time": item.time,
                    "volume": str(item.volume),
                }
                for (e, s), item in sorted(self._listings.items())
            ]
            modes = [{"exchange": e, "symbol": s, "mode": m.value} for (e, s), m in self._modes.items()]
            return {
                "prices": prices,
                "modes": modes,
                "stale_seconds": self.stale_seconds,
                "slow_seconds": self.slow_seconds,
            }


def _check_exchange(exchange: str) -> None:
    if exchange not in FORMATS:
        raise ValueError(f"unknown exchange {exchange!r} (simulated: {', '.join(EXCHANGES)})")

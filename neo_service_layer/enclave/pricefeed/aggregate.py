"""One polling round's quotes → one answer: stale and outlying quotes dropped, the median of the rest.

The steps (issue 15 item 3; the price-feed design's ``aggregate``):

1. **stale**: a quote whose exchange time is older than ``max_quote_age_s`` before ``now``, or more than
   :data:`MAX_FUTURE_SKEW_S` ahead of it, is dropped. A quote without a time (Kraken gives none) is
   taken as fresh: the fetch itself is bounded by the fetcher's timeout.
2. **outliers** by the median absolute deviation (Hampel's filter; Leys et al., "Detecting outliers: do
   not use standard deviation around the mean, use absolute deviation around the median", J. Exp. Soc.
   Psych. 2013): with ``m`` the median of the fresh prices and ``MAD`` the median of ``|p - m|``, a
   price is an outlier when ``|p - m| > k · MAD``. When more than half of the prices are equal, MAD is 0
   and every other price would be an outlier: that is allowed only when at least
   :data:`MIN_AGREEING_ON_MEDIAN` sources agree on the median (two identical quotes out of three are too
   few to overrule the third; the spread bound below judges them instead).
3. at least ``min_sources`` remain, else ``insufficient_sources``;
4. their spread ``(max - min) / median`` is at most ``max_spread_bps`` / 10^4, else ``spread_too_wide``;
5. the answer is the median of the remaining prices (the mean of the two middle ones for an even count),
   scaled by 10^decimals and rounded half to even.

Why one source cannot move the answer: ``k >= 1`` (:class:`AggregationPolicy` refuses less), so every
price within one MAD of ``m`` stays, and that is at least half of them; with at least three honest
sources at least two honest prices therefore stay, and the median of a set holding two honest prices
and one arbitrary price lies between honest prices (tests/enclave/pricefeed/test_aggregate.py checks
this with hypothesis).

All arithmetic is exact: ``Decimal`` in a context with the largest precision and every rounding
trapped (only additions, subtractions and multiplications are made — the median's halving is a
multiplication by 0.5 — so no result is ever rounded), and the bounds compared cross-multiplied.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, Literal

from neo_service_layer.enclave.pricefeed.quotes import Quote

#: How far ahead of the enclave's clock an exchange's time may be (clock skew) before it is suspect.
MAX_FUTURE_SKEW_S: Final = 5
#: MAD == 0 (more than half the prices equal): the others are outliers only if this many are equal.
MIN_AGREEING_ON_MEDIAN: Final = 3
BPS: Final = 10_000
_HALF: Final = Decimal("0.5")
# Exact arithmetic (module docstring): nothing is rounded, and were anything ever rounded, it raises.
_EXACT: Final = decimal.Context(
    prec=decimal.MAX_PREC,
    Emax=decimal.MAX_EMAX,
    Emin=decimal.MIN_EMIN,
    traps=[decimal.Inexact, decimal.Rounded, decimal.InvalidOperation, decimal.Overflow],
)

type Exclusion = Literal["stale", "outlier"]
type FailureCode = Literal["insufficient_sources", "spread_too_wide"]


@dataclass(frozen=True, slots=True)
class AggregationPolicy:
    """A feed's aggregation rules; ValueError for rules that break the guarantees above."""

    decimals: int
    min_sources: int
    max_quote_age_s: int
    outlier_mad_k: Decimal
    max_spread_bps: int

    def __post_init__(self) -> None:
        if not 0 <= self.decimals <= 18:
            raise ValueError("decimals must be 0..18")
        if self.min_sources < 1:
            raise ValueError("min_sources must be at least 1")
        if self.max_quote_age_s < 1:
            raise ValueError("max_quote_age_s must be positive")
        # Below 1 the filter could drop the median's own neighbours, and one source could move the answer.
        if not (self.outlier_mad_k.is_finite() and self.outlier_mad_k >= 1):
            raise ValueError("outlier_mad_k must be a finite number >= 1")
        if self.max_spread_bps < 1:
            raise ValueError("max_spread_bps must be positive")


@dataclass(frozen=True, slots=True)
class Aggregate:
    """The round's answer (the median scaled by 10^decimals), the sources used and those dropped, why."""

    answer: int
    median: Decimal
    used: list[str]
    excluded: dict[str, Exclusion] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AggregationFailure:
    """No answer this round: ``code`` says why, ``used`` are the sources that remained."""

    code: FailureCode
    detail: str
    used: list[str]
    excluded: dict[str, Exclusion] = field(default_factory=dict)


def median(values: Sequence[Decimal]) -> Decimal:
    """The median of ``values`` (the mean of the two middle ones for an even count), exactly."""
    if not values:
        raise ValueError("the median of no values")
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    with decimal.localcontext(_EXACT):
        return (ordered[middle - 1] + ordered[middle]) * _HALF


def is_stale(quote: Quote, now: int, max_age_s: int) -> bool:
    """Whether ``quote`` is older than ``max_age_s`` at ``now`` or too far in the future."""
    if quote.quote_time is None:
        return False
    return now - quote.quote_time > max_age_s or quote.quote_time - now > MAX_FUTURE_SKEW_S


def outliers(prices: Mapping[str, Decimal], k: Decimal) -> set[str]:
    """The names whose price is more than ``k`` median absolute deviations from the median."""
    if not prices:
        return set()
    center = median(list(prices.values()))
    with decimal.localcontext(_EXACT):
        deviations = {name: abs(price - center) for name, price in prices.items()}
        mad = median(list(deviations.values()))
        if mad == 0:
            agreeing = sum(1 for deviation in deviations.values() if deviation == 0)
            if agreeing < MIN_AGREEING_ON_MEDIAN:
                return set()
            return {name for name, deviation in deviations.items() if deviation != 0}
        bound = k * mad
        return {name for name, deviation in deviations.items() if deviation > bound}


def scaled_answer(value: Decimal, decimals: int) -> int:
    """``value`` · 10^decimals rounded half to even, as an int."""
    with decimal.localcontext(_EXACT):
        # The one rounding on purpose, to an integer, half to even (ties favour neither direction);
        # to_integral_value signals neither Inexact nor Rounded.
        return int(value.scaleb(decimals).to_integral_value(rounding=decimal.ROUND_HALF_EVEN))


def _check_price(name: str, price: Decimal) -> None:
    # Adapters never make such a quote (quote.py: price > 0); a caller that does has a bug.
    if not (isinstance(price, Decimal) and price.is_finite() and price > 0):
        raise ValueError(f"source {name!r}: a quote's price must be a finite positive Decimal")


def aggregate(
    quotes: Mapping[str, Quote], now: int, policy: AggregationPolicy
) -> Aggregate | AggregationFailure:
    """The round's :class:`Aggregate` from each source's quote (by source name), or why there is none."""
    excluded: dict[str, Exclusion] = {}
    fresh: dict[str, Decimal] = {}
    for name, quote in quotes.items():
        _check_price(name, quote.price)
        if is_stale(quote, now, policy.max_quote_age_s):
            excluded[name] = "stale"
        else:
            fresh[name] = quote.price
    dropped = outliers(fresh, policy.outlier_mad_k)
    for name in fresh:
        if name in dropped:
            excluded[name] = "outlier"
    used = {name: price for name, price in fresh.items() if name not in dropped}
    names = list(used)
    if len(used) < policy.min_sources:
        detail = f"{len(used)} usable source(s) of {len(quotes)}, {policy.min_sources} required"
        return AggregationFailure("insufficient_sources", detail, names, excluded)
    center = median(list(used.values()))
    low, high = min(used.values()), max(used.values())
    with decimal.localcontext(_EXACT):
        # (high - low) / center <= max_spread_bps / 10^4, cross-multiplied (center > 0).
        too_wide = (high - low) * BPS > policy.max_spread_bps * center
    if too_wide:
        detail = f"prices {low}..{high} around {center} spread over {policy.max_spread_bps} bps"
        return AggregationFailure("spread_too_wide", detail, names, excluded)
    return Aggregate(scaled_answer(center, policy.decimals), center, names, excluded)

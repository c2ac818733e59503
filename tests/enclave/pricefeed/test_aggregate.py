"""``pricefeed.aggregate``: stale and outlying quotes dropped, quorum, spread, the median; exact.

Table tests for each rule at its boundary, and hypothesis properties for what must hold whatever the
quotes: the answer is the median of the accepted set and inside its range, and one manipulated source
among at least three honest ones never moves it outside the honest range (issue 15's tests).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neo_service_layer.enclave.pricefeed.aggregate import (
    MAX_FUTURE_SKEW_S,
    Aggregate,
    AggregationFailure,
    AggregationPolicy,
    aggregate,
    median,
    outliers,
    scaled_answer,
)
from neo_service_layer.enclave.pricefeed.quotes import Quote

NOW = 1_800_000_000
D = Decimal


def policy(**overrides: object) -> AggregationPolicy:
    fields: dict[str, object] = {
        "decimals": 8,
        "min_sources": 1,
        "max_quote_age_s": 60,
        "outlier_mad_k": D(5),
        "max_spread_bps": 10_000,
    }
    return AggregationPolicy(**(fields | overrides))  # type: ignore[arg-type]


def quotes(*prices: str | Decimal, time: int | None = NOW) -> dict[str, Quote]:
    return {f"s{i}": Quote(D(price), time, None) for i, price in enumerate(prices)}


def ok(result: Aggregate | AggregationFailure) -> Aggregate:
    assert isinstance(result, Aggregate), result
    return result


@pytest.mark.parametrize(
    ("prices", "expected"),
    [
        pytest.param(["12.34"], "12.34", id="one"),
        pytest.param(["3", "1", "2"], "2", id="odd"),
        pytest.param(["1", "2", "3", "4"], "2.5", id="even-mean-of-middle"),
        pytest.param(["0.1", "0.2"], "0.15", id="even-one-more-digit"),
        pytest.param(["5", "5", "5", "5"], "5", id="all-equal"),
        pytest.param(
            ["999999999999.999999999999999999", "999999999999.999999999999999998"],
            "999999999999.9999999999999999985",
            id="31-digits-exact",
        ),
    ],
)
def test_median_is_exact(prices: list[str], expected: str) -> None:
    assert median([D(p) for p in prices]) == D(expected)


def test_median_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        median([])


@pytest.mark.parametrize(
    ("value", "decimals", "answer"),
    [
        pytest.param("12.34", 8, 1_234_000_000, id="plain"),
        pytest.param("0.000000005", 8, 0, id="half-to-even-down"),
        pytest.param("0.000000015", 8, 2, id="half-to-even-up"),
        pytest.param("0.0000000150000001", 8, 2, id="above-half"),
        pytest.param("0.0000000149999999", 8, 1, id="below-half"),
        pytest.param("2.5", 0, 2, id="zero-decimals-tie"),
        pytest.param("3.5", 0, 4, id="zero-decimals-tie-odd"),
        pytest.param("1E+3", 2, 100_000, id="exponent-form"),
        pytest.param("123.456", 18, 123_456_000_000_000_000_000, id="18-decimals"),
    ],
)
def test_scaled_answer_rounds_half_to_even(value: str, decimals: int, answer: int) -> None:
    assert scaled_answer(D(value), decimals) == answer


@pytest.mark.parametrize(
    ("time", "stale"),
    [
        pytest.param(NOW - 60, False, id="exactly-max-age"),
        pytest.param(NOW - 61, True, id="one-second-older"),
        pytest.param(NOW + MAX_FUTURE_SKEW_S, False, id="future-within-skew"),
        pytest.param(NOW + MAX_FUTURE_SKEW_S + 1, True, id="future-beyond-skew"),
        pytest.param(None, False, id="no-time-is-fresh"),
    ],
)
def test_stale_quotes_are_dropped(time: int | None, stale: bool) -> None:
    given_quotes = quotes("10", "10.01") | {"x": Quote(D("10.02"), time, None)}
    result = ok(aggregate(given_quotes, NOW, policy()))
    assert ("x" in result.excluded) is stale
    assert result.excluded.get("x") == ("stale" if stale else None)
    assert ("x" in result.used) is not stale


@pytest.mark.parametrize(
    ("prices", "k", "dropped"),
    [
        pytest.param(["100", "101", "99", "100.5", "1000"], "5", {"s4"}, id="one-high"),
        pytest.param(["100", "101", "99", "100.5", "0.001"], "5", {"s4"}, id="one-low"),
        pytest.param(["100", "101", "99", "100.5", "102"], "5", set(), id="within-k-mad"),
        # median 100, deviations 0,0,1,1,4 -> MAD 1: 4 > 3 * 1 is out.
        pytest.param(["100", "101", "99", "100", "104"], "3", {"s4"}, id="k-3"),
        # |p - m| == k * MAD is kept (strict >).
        pytest.param(["100", "101", "99", "100", "104"], "4", set(), id="exactly-k-mad-kept"),
        # MAD 0: three agree on the median, the others are out.
        pytest.param(["7", "7", "7", "7.01"], "5", {"s3"}, id="mad-zero-three-agree"),
        # MAD 0 with two agreeing: too few to overrule the third; nothing dropped.
        pytest.param(["7", "7", "9"], "5", set(), id="mad-zero-two-agree"),
        pytest.param(["1", "2"], "1", set(), id="two-never-drop"),
        pytest.param(["1"], "1", set(), id="one"),
    ],
)
def test_outliers_by_median_absolute_deviation(prices: list[str], k: str, dropped: set[str]) -> None:
    assert outliers({f"s{i}": D(p) for i, p in enumerate(prices)}, D(k)) == dropped


def test_an_outlier_is_ignored_by_the_answer() -> None:
    result = ok(aggregate(quotes("100", "101", "99", "100.5", "1000000"), NOW, policy(min_sources=3)))
    assert result.excluded == {"s4": "outlier"}
    assert result.used == ["s0", "s1", "s2", "s3"]
    assert result.median == D("100.25")
    assert result.answer == 10_025_000_000


@pytest.mark.parametrize(
    ("prices", "times", "min_sources", "code"),
    [
        pytest.param(["1", "1.01"], [NOW, NOW], 3, "insufficient_sources", id="too-few"),
        pytest.param(["1", "1.01", "1"], [NOW, NOW - 61, NOW], 3, "insufficient_sources", id="one-stale"),
        pytest.param(["1", "1", "1", "90"], [NOW] * 4, 4, "insufficient_sources", id="outlier-makes-too-few"),
        pytest.param([], [], 1, "insufficient_sources", id="none"),
        pytest.param(["1", "1.01", "1"], [NOW] * 3, 3, None, id="exactly-min"),
    ],
)
def test_fewer_than_min_sources_is_no_answer(
    prices: list[str], times: list[int], min_sources: int, code: str | None
) -> None:
    given_quotes = {f"s{i}": Quote(D(p), t, None) for i, (p, t) in enumerate(zip(prices, times, strict=True))}
    result = aggregate(given_quotes, NOW, policy(min_sources=min_sources))
    if code is None:
        assert isinstance(result, Aggregate)
    else:
        assert isinstance(result, AggregationFailure)
        assert result.code == code
        assert f"{min_sources} required" in result.detail


@pytest.mark.parametrize(
    ("prices", "max_spread_bps", "too_wide"),
    [
        # (101 - 99) / 100 = 200 bps.
        pytest.param(["99", "100", "101"], 200, False, id="exactly-at-bound"),
        pytest.param(["99", "100", "101"], 199, True, id="one-bps-under"),
        pytest.param(["99", "100", "101.0000001"], 200, True, id="a-hair-over"),
        pytest.param(["100"], 1, False, id="one-source-no-spread"),
    ],
)
def test_spread_bound(prices: list[str], max_spread_bps: int, too_wide: bool) -> None:
    result = aggregate(quotes(*prices), NOW, policy(max_spread_bps=max_spread_bps))
    if too_wide:
        assert isinstance(result, AggregationFailure)
        assert result.code == "spread_too_wide"
        assert result.used == [f"s{i}" for i in range(len(prices))]
    else:
        assert isinstance(result, Aggregate)


@pytest.mark.parametrize(
    "price",
    [pytest.param(D(0), id="zero"), pytest.param(D(-1), id="negative"), pytest.param(D("NaN"), id="nan")],
)
def test_a_price_no_adapter_makes_is_a_bug(price: Decimal) -> None:
    with pytest.raises(ValueError, match="finite positive"):
        aggregate({"x": Quote(price, NOW, None)}, NOW, policy())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"decimals": 19}, "decimals", id="decimals-19"),
        pytest.param({"decimals": -1}, "decimals", id="decimals-negative"),
        pytest.param({"min_sources": 0}, "min_sources", id="min-sources-0"),
        pytest.param({"max_quote_age_s": 0}, "max_quote_age_s", id="age-0"),
        pytest.param({"outlier_mad_k": D("0.99")}, "outlier_mad_k", id="k-below-1"),
        pytest.param({"outlier_mad_k": D("Infinity")}, "outlier_mad_k", id="k-infinite"),
        pytest.param({"max_spread_bps": 0}, "max_spread_bps", id="spread-0"),
    ],
)
def test_policy_refuses_rules_that_break_the_guarantees(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        policy(**overrides)


# --- properties -------------------------------------------------------------------------------------

prices = st.decimals(min_value=D("0.000001"), max_value=D(10) ** 9, places=6, allow_nan=False)
ks = st.sampled_from([D(1), D("1.5"), D(3), D(5), D(10)])
PROPERTY = settings(max_examples=200, deadline=None)
NO_SPREAD_BOUND = 10**30  # prices span 10^-6..10^9: no spread reaches it


def _named(values: list[Decimal]) -> dict[str, Quote]:
    return {f"s{i}": Quote(value, NOW, None) for i, value in enumerate(values)}


def _accepted(given_quotes: Mapping[str, Quote], result: Aggregate) -> list[Decimal]:
    return [given_quotes[name].price for name in result.used]


@PROPERTY
@given(values=st.lists(prices, min_size=1, max_size=20), k=ks)
def test_the_answer_is_the_median_of_the_accepted_set(values: list[Decimal], k: Decimal) -> None:
    given_quotes = _named(values)
    result = aggregate(given_quotes, NOW, policy(outlier_mad_k=k, max_spread_bps=NO_SPREAD_BOUND))
    assert isinstance(result, Aggregate)  # no quorum or spread bound to fail here
    accepted = _accepted(given_quotes, result)
    assert result.median == statistics.median(accepted)  # the stdlib's, exact on Decimals
    assert min(accepted) <= result.median <= max(accepted)
    # At least half of the fresh prices are within one MAD of the median, so at least half stay.
    assert 2 * len(accepted) >= len(values)
    assert set(result.used) | set(result.excluded) == set(given_quotes)
    assert result.answer == scaled_answer(result.median, 8)


@PROPERTY
@given(
    honest=st.lists(prices, min_size=3, max_size=19),
    manipulated=st.one_of(prices, st.decimals(min_value=D("1E-18"), max_value=D(10) ** 12, allow_nan=False)),
    k=ks,
    position=st.integers(min_value=0, max_value=19),
)
def test_one_manipulated_source_never_moves_the_answer_outside_the_honest_range(
    honest: list[Decimal], manipulated: Decimal, k: Decimal, position: int
) -> None:
    values = list(honest)
    values.insert(position % (len(values) + 1), manipulated)
    result = aggregate(_named(values), NOW, policy(outlier_mad_k=k, max_spread_bps=NO_SPREAD_BOUND))
    assert isinstance(result, Aggregate)
    assert min(honest) <= result.median <= max(honest)
    # And with a spread bound, a failure is no answer at all: never one outside the honest range.
    bounded = aggregate(_named(values), NOW, policy(outlier_mad_k=k, max_spread_bps=500))
    assert isinstance(bounded, AggregationFailure) or min(honest) <= bounded.median <= max(honest)


@PROPERTY
@given(
    values=st.lists(prices, min_size=1, max_size=20),
    ages=st.lists(st.integers(min_value=-10, max_value=120), min_size=20, max_size=20),
    min_sources=st.integers(min_value=1, max_value=20),
    spread=st.integers(min_value=1, max_value=2_000),
)
def test_any_answer_respects_age_quorum_and_spread(
    values: list[Decimal], ages: list[int], min_sources: int, spread: int
) -> None:
    given_quotes = {f"s{i}": Quote(v, NOW - ages[i], None) for i, v in enumerate(values)}
    rules = policy(min_sources=min_sources, max_spread_bps=spread, max_quote_age_s=60)
    result = aggregate(given_quotes, NOW, rules)
    stale = {f"s{i}" for i in range(len(values)) if ages[i] > 60 or ages[i] < -MAX_FUTURE_SKEW_S}
    assert {name for name, why in result.excluded.items() if why == "stale"} == stale
    if isinstance(result, Aggregate):
        accepted = _accepted(given_quotes, result)
        assert len(accepted) >= min_sources
        assert (max(accepted) - min(accepted)) * 10_000 <= spread * result.median
    elif result.code == "insufficient_sources":
        assert len(result.used) < min_sources
    else:
        accepted = [given_quotes[name].price for name in result.used]
        assert (max(accepted) - min(accepted)) * 10_000 > spread * statistics.median(accepted)

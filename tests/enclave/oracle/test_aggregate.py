"""Multi-source agreement (enclave/oracle/aggregate.py): median with spread, identical, majority, quorum."""

from __future__ import annotations

from decimal import Decimal

import pytest

from neo_service_layer.enclave.oracle.aggregate import (
    MAX_SOURCES,
    AggregateMode,
    AggregateSpec,
    Agreement,
    SourceOutcome,
    aggregate,
    format_decimal,
    single_number,
)
from neo_service_layer.enclave.oracle.codes import OracleCode

OK = OracleCode.Success
MEDIAN = AggregateSpec(AggregateMode.MEDIAN)
IDENTICAL = AggregateSpec(AggregateMode.IDENTICAL)
MAJORITY = AggregateSpec(AggregateMode.MAJORITY)


def ok(result: str) -> SourceOutcome:
    return SourceOutcome(OK, result.encode())


def failed(code: OracleCode) -> SourceOutcome:
    return SourceOutcome(code)


@pytest.mark.parametrize(
    ("spec", "outcomes", "expected"),
    [
        pytest.param(MEDIAN, [ok("[1]")], Agreement(OK, b"[1]"), id="one-source-is-its-own-answer"),
        pytest.param(
            MEDIAN, [failed(OracleCode.Timeout)], Agreement(OracleCode.Timeout, b""), id="one-failed-source"
        ),
        pytest.param(MEDIAN, [ok("[1]"), ok("[3]"), ok("[2]")], Agreement(OK, b"[2]"), id="median-odd"),
        pytest.param(
            MEDIAN,
            [ok("[1]"), ok("[2]"), ok("[3]"), ok("[10]")],
            Agreement(OK, b"[2.5]"),
            id="median-even-mean",
        ),
        pytest.param(
            MEDIAN,
            [ok('["43000.12"]'), ok("[43000.10]"), ok("[43000.14]")],
            Agreement(OK, b"[43000.12]"),
            id="decimal-strings-and-numbers",
        ),
        pytest.param(
            MEDIAN,
            [ok("[0.1]"), ok("[0.2]")],
            Agreement(OK, b"[0.15]"),
            id="exact-decimal-no-float-rounding",
        ),
        pytest.param(
            MEDIAN,
            [ok("[100]"), ok("[101]"), ok("[1000000]")],
            Agreement(OK, b"[101]"),
            id="one-manipulated-source-cannot-move-it",
        ),
        pytest.param(
            MEDIAN,
            [ok("[1]"), ok('["x"]'), ok("[1, 2]"), ok("[true]")],
            Agreement(OracleCode.ConsensusUnreachable, b"", "1 sources gave a number, 3 needed"),
            id="non-numbers-do-not-count",
        ),
        pytest.param(
            MEDIAN,
            [ok("[1]"), ok("[NaN]"), ok('["Infinity"]'), ok("[2]"), ok("[3]")],
            Agreement(OK, b"[2]"),
            id="nan-and-infinity-are-not-numbers",
        ),
        pytest.param(
            AggregateSpec(AggregateMode.MEDIAN, max_spread=Decimal("0.01")),
            [ok("[100]"), ok("[100.5]"), ok("[101]")],
            Agreement(OK, b"[100.5]"),
            id="spread-within-bound",
        ),
        pytest.param(
            AggregateSpec(AggregateMode.MEDIAN, max_spread=Decimal("0.01")),
            [ok("[100]"), ok("[100.5]"), ok("[102]")],
            Agreement(OracleCode.ConsensusUnreachable, b"", "the sources' spread exceeds 0.01"),
            id="spread-over-bound",
        ),
        pytest.param(
            AggregateSpec(AggregateMode.MEDIAN, max_spread=Decimal("0.5")),
            [ok("[-1]"), ok("[0]"), ok("[1]")],
            Agreement(OracleCode.ConsensusUnreachable, b"", "the sources' spread exceeds 0.5"),
            id="spread-around-zero-median",
        ),
        pytest.param(
            AggregateSpec(AggregateMode.MEDIAN, max_spread=Decimal("0")),
            [ok("[0]"), ok("[0.0]")],
            Agreement(OK, b"[0]"),
            id="zero-spread-at-zero",
        ),
        pytest.param(
            MEDIAN,
            [ok("[5]"), failed(OracleCode.Timeout), failed(OracleCode.NotFound)],
            Agreement(OracleCode.ConsensusUnreachable, b"", "1 sources gave a number, 2 needed"),
            id="median-below-quorum",
        ),
        pytest.param(
            AggregateSpec(AggregateMode.MEDIAN, quorum=1),
            [ok("[5]"), failed(OracleCode.Timeout), failed(OracleCode.NotFound)],
            Agreement(OK, b"[5]"),
            id="median-explicit-quorum",
        ),
        pytest.param(IDENTICAL, [ok('["a"]'), ok('["a"]')], Agreement(OK, b'["a"]'), id="identical-agree"),
        pytest.param(
            IDENTICAL,
            [ok('["a"]'), ok('["b"]')],
            Agreement(OracleCode.ConsensusUnreachable, b"", "the sources' results differ"),
            id="identical-differ",
        ),
        pytest.param(
            IDENTICAL,
            [ok('["a"]'), failed(OracleCode.Timeout)],
            Agreement(OracleCode.ConsensusUnreachable, b"", "1 sources agree, 2 needed"),
            id="identical-needs-all-by-default",
        ),
        pytest.param(
            MAJORITY,
            [ok('["a"]'), ok('["b"]'), ok('["a"]')],
            Agreement(OK, b'["a"]'),
            id="majority-agree",
        ),
        pytest.param(
            MAJORITY,
            [ok('["a"]'), ok('["b"]'), ok('["c"]')],
            Agreement(OracleCode.ConsensusUnreachable, b"", "1 sources agree, 2 needed"),
            id="majority-none",
        ),
        pytest.param(
            MAJORITY,
            [failed(OracleCode.NotFound), failed(OracleCode.NotFound)],
            Agreement(OracleCode.NotFound, b"", "no source succeeded"),
            id="all-failed-alike-keeps-code",
        ),
        pytest.param(
            MAJORITY,
            [failed(OracleCode.NotFound), failed(OracleCode.Timeout)],
            Agreement(OracleCode.ConsensusUnreachable, b"", "no source succeeded"),
            id="all-failed-differently",
        ),
    ],
)
def test_aggregate(spec: AggregateSpec, outcomes: list[SourceOutcome], expected: Agreement) -> None:
    assert aggregate(spec, outcomes) == expected


@pytest.mark.parametrize("count", [0, MAX_SOURCES + 1])
def test_source_count_is_bounded(count: int) -> None:
    with pytest.raises(ValueError, match=r"1\.\.7 sources"):
        aggregate(MEDIAN, [ok("[1]")] * count)


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        pytest.param(b"[1e2]", Decimal("1e2"), id="exponent"),
        pytest.param(b'["-0.5"]', Decimal("-0.5"), id="negative-string"),
        pytest.param(b"[1e999999]", None, id="huge-exponent"),
        pytest.param(b'["1' + b"0" * 100 + b'"]', None, id="too-many-digits"),
        pytest.param(b"1", None, id="not-an-array"),
        pytest.param(b"[]", None, id="empty-array"),
        pytest.param(b"[null]", None, id="null"),
        pytest.param(b'["12abc"]', None, id="not-a-decimal-string"),
        pytest.param(b"[1", None, id="broken-json"),
    ],
)
def test_single_number(result: bytes, expected: Decimal | None) -> None:
    assert single_number(result) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [("1.50", "1.5"), ("100", "100"), ("1e2", "100"), ("-0.0", "0"), ("0.000001", "0.000001"), ("2.0", "2")],
)
def test_format_decimal(value: str, text: str) -> None:
    assert format_decimal(Decimal(value)) == text

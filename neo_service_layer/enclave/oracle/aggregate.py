"""Agreement of several sources on one answer: a median of numbers, or identical / majority bytes.

A multi-source request fetches up to :data:`MAX_SOURCES` URLs and runs the same filter on each; what
the oracle answers is decided here, inside the enclave, from every source's outcome:

* ``median``: each successful source's filter output must be a JSON array of exactly one number (or a
  decimal string such as Binance's ``"43000.12"``); at least ``quorum`` of them must parse, their
  spread ``(max - min) / median`` must not exceed ``max_spread``, and the answer is ``[median]`` (the
  mean of the two middle values for an even count), computed exactly in :class:`~decimal.Decimal` —
  a float would round a price.
* ``identical``: the successful outputs must be the same bytes, from at least ``quorum`` sources.
* ``majority``: the most frequent output wins if at least ``quorum`` sources gave it.

Anything short of that is ``ConsensusUnreachable``; the per-source codes are reported beside it. One
source is no aggregation: its outcome is the answer. When every source failed with the same code
(all 404, say), that code is more useful to a contract than ``ConsensusUnreachable`` and is returned.
Chainlink's Data Feeds and OCR take the median for the same reason: one lying source cannot move it.
"""

from __future__ import annotations

import decimal
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Final

from neo_service_layer.enclave.canonical import refuse_constants
from neo_service_layer.enclave.oracle.codes import OracleCode

MAX_SOURCES: Final = 7
#: Significant digits and magnitude of a number the median accepts (uint256 has 78 digits).
MAX_DIGITS: Final = 80
# Exact for numbers within MAX_DIGITS, their sums, means and products with a spread bound.
_EXACT: Final = decimal.Context(prec=200, traps=[decimal.InvalidOperation, decimal.Inexact])


class AggregateMode(StrEnum):
    MEDIAN = "median"
    IDENTICAL = "identical"
    MAJORITY = "majority"


@dataclass(frozen=True, slots=True)
class SourceOutcome:
    """One source's code and (for ``Success``) its filtered result."""

    code: OracleCode
    result: bytes = b""


@dataclass(frozen=True, slots=True)
class Agreement:
    """The answer: ``Success`` with the agreed result, or the code that says why there is none."""

    code: OracleCode
    result: bytes
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AggregateSpec:
    """How the sources must agree. ``quorum`` defaults to a majority of the sources (all of them for
    ``identical``); ``max_spread`` is a fraction of the median (``Decimal("0.01")`` = 1 %)."""

    mode: AggregateMode = AggregateMode.IDENTICAL
    quorum: int | None = None
    max_spread: Decimal | None = None

    def quorum_for(self, sources: int) -> int:
        """The number of agreeing sources needed out of ``sources``."""
        if self.quorum is not None:
            return self.quorum
        return sources if self.mode is AggregateMode.IDENTICAL else sources // 2 + 1


def aggregate(spec: AggregateSpec, outcomes: Sequence[SourceOutcome]) -> Agreement:
    """The answer of ``outcomes`` under ``spec`` (module docstring)."""
    if not 1 <= len(outcomes) <= MAX_SOURCES:
        raise ValueError(f"1..{MAX_SOURCES} sources, got {len(outcomes)}")
    if len(outcomes) == 1:
        return Agreement(outcomes[0].code, outcomes[0].result)
    succeeded = [outcome.result for outcome in outcomes if outcome.code is OracleCode.Success]
    if not succeeded:
        codes = {outcome.code for outcome in outcomes}
        only = codes.pop() if len(codes) == 1 else OracleCode.ConsensusUnreachable
        return Agreement(only, b"", "no source succeeded")
    quorum = spec.quorum_for(len(outcomes))
    if spec.mode is AggregateMode.MEDIAN:
        return _median(succeeded, quorum, spec.max_spread)
    if spec.mode is AggregateMode.IDENTICAL:
        if len(set(succeeded)) > 1:
            return _unreachable("the sources' results differ")
        return _with_quorum(succeeded[0], len(succeeded), quorum)
    result, votes = Counter(succeeded).most_common(1)[0]
    return _with_quorum(result, votes, quorum)


def _with_quorum(result: bytes, votes: int, quorum: int) -> Agreement:
    if votes < quorum:
        return _unreachable(f"{votes} sources agree, {quorum} needed")
    return Agreement(OracleCode.Success, result)


def _unreachable(detail: str) -> Agreement:
    return Agreement(OracleCode.ConsensusUnreachable, b"", detail)


def _median(results: Sequence[bytes], quorum: int, max_spread: Decimal | None) -> Agreement:
    values = sorted(value for value in map(single_number, results) if value is not None)
    if len(values) < quorum:
        return _unreachable(f"{len(values)} sources gave a number, {quorum} needed")
    middle = len(values) // 2
    with decimal.localcontext(_EXACT):
        median = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
        spread = values[-1] - values[0]
        # spread / |median| > max_spread, without a division that could round.
        if max_spread is not None and spread > max_spread * abs(median):
            return _unreachable(f"the sources' spread exceeds {max_spread}")
    return Agreement(OracleCode.Success, b"[" + format_decimal(median).encode() + b"]")


def single_number(result: bytes) -> Decimal | None:
    """The number in a filter output ``[n]`` or ``["n"]`` (a decimal string), else None.

    Parsed from the text itself (no float on the way), so ``0.1`` is exactly one tenth.
    """
    try:
        parsed = json.loads(result, parse_float=Decimal, parse_int=Decimal, parse_constant=refuse_constants)
    except ValueError:
        return None
    if not (isinstance(parsed, list) and len(parsed) == 1):
        return None
    value = parsed[0]
    if isinstance(value, str):
        try:
            value = Decimal(value)
        except decimal.InvalidOperation:
            return None
    if not isinstance(value, Decimal) or not value.is_finite():
        return None
    # Bounded so that exact arithmetic stays cheap: "1e999999" or 60,000 digits is no price.
    if len(value.as_tuple().digits) > MAX_DIGITS or abs(value.adjusted()) > MAX_DIGITS:
        return None
    return value


def format_decimal(value: Decimal) -> str:
    """``value`` as a JSON number without an exponent and without trailing zeros (``1.50`` → ``1.5``)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text

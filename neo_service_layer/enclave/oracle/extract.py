"""Typed extraction: a filter's one value as an ``int256``/``uint256`` (with decimals), ``string`` or
``bool``, and its ABI encoding — so an EVM contract receives a value it can use without parsing JSON.

Like Chainlink's jobs (``jsonparse`` → ``multiply`` → ``ethabiencode``), in one step with exact
arithmetic: a number or decimal string is multiplied by ``10^decimals`` in :class:`~decimal.Decimal`
and truncated toward zero (what Solidity's integer division does), then range-checked. The output
stays JSON (``[value]``, an integer as a JSON number, exact however large) so that several sources can
still be aggregated; :func:`abi_encode` turns the agreed answer into the 32-byte (or dynamic) word.
A value that does not fit is a failure with code ``Error`` and a reason, never a wrapped number.
"""

from __future__ import annotations

import decimal
import json
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

from eth_abi.abi import encode as abi_encode_values

from neo_service_layer.enclave.canonical import refuse_constants
from neo_service_layer.enclave.oracle.codes import OracleCode, OracleFailure

MAX_DECIMALS: Final = 77
INT256_MIN: Final = -(2**255)
INT256_MAX: Final = 2**255 - 1
UINT256_MAX: Final = 2**256 - 1
# Enough for any int256 scaled by 10^77 and its fraction: exact, never rounded silently.
_EXACT: Final = decimal.Context(prec=200, traps=[decimal.InvalidOperation, decimal.Inexact, decimal.Overflow])


class ValueType(StrEnum):
    INT256 = "int256"
    UINT256 = "uint256"
    STRING = "string"
    BOOL = "bool"


@dataclass(frozen=True, slots=True)
class ExtractSpec:
    type: ValueType
    decimals: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.decimals <= MAX_DECIMALS:
            raise ValueError(f"decimals must be 0..{MAX_DECIMALS}")
        if self.decimals and self.type not in (ValueType.INT256, ValueType.UINT256):
            raise ValueError("decimals apply to int256 and uint256 only")


class ExtractionFailed(OracleFailure):
    def __init__(self, detail: str) -> None:
        super().__init__(OracleCode.Error, detail)


def _one_value(result: bytes) -> Any:
    try:
        values = json.loads(result, parse_float=Decimal, parse_int=Decimal, parse_constant=refuse_constants)
    except ValueError as exc:
        raise ExtractionFailed("the filter's output is not JSON") from exc
    if not isinstance(values, list) or len(values) != 1:
        count = len(values) if isinstance(values, list) else "no array of"
        raise ExtractionFailed(f"typed extraction needs exactly one value, the filter gave {count}")
    return values[0]


def _integer(value: Any, spec: ExtractSpec) -> int:
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except decimal.InvalidOperation:
            raise ExtractionFailed("the value is not a number or a decimal string") from None
    if isinstance(value, bool) or not isinstance(value, Decimal) or not value.is_finite():
        raise ExtractionFailed("the value is not a number or a decimal string")
    if abs(value.adjusted()) > MAX_DECIMALS + 1:
        raise ExtractionFailed(f"the value is out of {spec.type.value} range")
    with decimal.localcontext(_EXACT):
        scaled = int(value.scaleb(spec.decimals).to_integral_value(rounding=decimal.ROUND_DOWN))
    low, high = (INT256_MIN, INT256_MAX) if spec.type is ValueType.INT256 else (0, UINT256_MAX)
    if not low <= scaled <= high:
        raise ExtractionFailed(f"the value is out of {spec.type.value} range")
    return scaled


def extract(result: bytes, spec: ExtractSpec) -> bytes:
    """A filter output holding one value → ``[typed value]`` (JSON); ExtractionFailed otherwise."""
    value = _one_value(result)
    typed: int | str | bool
    if spec.type in (ValueType.INT256, ValueType.UINT256):
        typed = _integer(value, spec)
    elif spec.type is ValueType.BOOL:
        if not isinstance(value, bool):
            raise ExtractionFailed("the value is not a JSON boolean")
        typed = value
    else:
        if not isinstance(value, str):
            raise ExtractionFailed("the value is not a JSON string")
        typed = value
    return json.dumps([typed], ensure_ascii=False, separators=(",", ":")).encode()


def abi_encode(result: bytes, spec: ExtractSpec) -> bytes:
    """The ABI encoding of an extracted (and perhaps aggregated) answer ``[value]``.

    An aggregated integer answer may be a mean (``[2.5]``): it is truncated toward zero like any
    extracted number, at ``decimals`` 0 (the sources' values were scaled already).
    """
    value = _one_value(result)
    if spec.type in (ValueType.INT256, ValueType.UINT256):
        encoded: Any = _integer(value, ExtractSpec(spec.type))
    else:
        extract(result, spec)  # the same type checks as for one source
        encoded = value
    return abi_encode_values([spec.type.value], [encoded])

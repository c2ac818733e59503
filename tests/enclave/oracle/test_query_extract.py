"""RFC 9535 filters (oracle/query.py) and typed extraction with ABI encoding (oracle/extract.py)."""

from __future__ import annotations

import pytest
from eth_abi.abi import decode

from neo_service_layer.enclave.oracle.codes import OracleCode, OracleFailure
from neo_service_layer.enclave.oracle.extract import (
    INT256_MAX,
    UINT256_MAX,
    ExtractSpec,
    ValueType,
    abi_encode,
    extract,
)
from neo_service_layer.enclave.oracle.filter import FilterError
from neo_service_layer.enclave.oracle.query import FilterSyntax, QueryInvalid, check_query, select

DOC = b'{"data": [{"sym": "NEO", "price": "12.5", "up": true}, {"sym": "GAS", "price": 4.25, "up": false}]}'
RFC = FilterSyntax.RFC9535


@pytest.mark.parametrize(
    ("path", "output"),
    [
        pytest.param("$.data[0].price", b'["12.5"]', id="member-and-index"),
        pytest.param("$.data[?@.sym == 'GAS'].price", b"[4.25]", id="filter-expression"),
        pytest.param("$.data[?@.up == true].sym", b'["NEO"]', id="comparison-with-true"),
        pytest.param("$.data[?@.up].sym", b'["NEO","GAS"]', id="existence-is-not-truth"),
        pytest.param("$..sym", b'["NEO","GAS"]', id="descendants"),
        pytest.param("$.data[?length(@.sym) == 3].sym", b'["NEO","GAS"]', id="function"),
        pytest.param("$.missing", b"[]", id="no-match"),
    ],
)
def test_rfc9535_selects_into_a_compact_array(path: str, output: bytes) -> None:
    assert select(DOC, RFC, path) == output


def test_no_filter_returns_the_body_in_either_syntax() -> None:
    assert select(b"not json", RFC, None) == b"not json"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        pytest.param(b"\xff{}", "invalid JSON", id="not-utf8"),
        pytest.param(b'{"a": NaN}', "invalid JSON", id="nan"),
        pytest.param(b'{"a": 1, "a": 2}', "invalid JSON", id="duplicate-key"),
        pytest.param(b'{"a": ', "invalid JSON", id="truncated"),
    ],
)
def test_rfc9535_refuses_what_rfc8259_refuses(document: bytes, reason: str) -> None:
    with pytest.raises(FilterError, match=reason) as raised:
        select(document, RFC, "$.a")
    assert raised.value.code is OracleCode.Error


@pytest.mark.parametrize(
    ("syntax", "path"),
    [
        pytest.param(RFC, "$[", id="rfc-unclosed"),
        pytest.param(RFC, "data.price", id="rfc-no-root"),
        pytest.param(FilterSyntax.N3, "$[?(@.a)]", id="n3-has-no-filter-expressions"),
    ],
)
def test_invalid_queries_are_refused_up_front(syntax: FilterSyntax, path: str) -> None:
    with pytest.raises(QueryInvalid):
        check_query(syntax, path)


@pytest.mark.parametrize(
    ("output", "spec", "typed", "abi_type", "decoded"),
    [
        pytest.param(
            b'["12.5"]',
            ExtractSpec(ValueType.INT256, 8),
            b"[1250000000]",
            "int256",
            1250000000,
            id="decimal-string",
        ),
        pytest.param(b"[4.25]", ExtractSpec(ValueType.UINT256, 2), b"[425]", "uint256", 425, id="number"),
        pytest.param(
            b"[1.239]",
            ExtractSpec(ValueType.INT256, 2),
            b"[123]",
            "int256",
            123,
            id="truncated-toward-zero",
        ),
        pytest.param(
            b'["-1.239"]',
            ExtractSpec(ValueType.INT256, 2),
            b"[-123]",
            "int256",
            -123,
            id="negative-toward-zero",
        ),
        pytest.param(
            b'["0.1"]',
            ExtractSpec(ValueType.INT256, 18),
            b"[100000000000000000]",
            "int256",
            10**17,
            id="exact-no-float",
        ),
        pytest.param(b"[true]", ExtractSpec(ValueType.BOOL), b"[true]", "bool", True, id="bool"),
        pytest.param(b'["NEO"]', ExtractSpec(ValueType.STRING), b'["NEO"]', "string", "NEO", id="string"),
        pytest.param(
            b'["' + str(UINT256_MAX).encode() + b'"]',
            ExtractSpec(ValueType.UINT256),
            b"[" + str(UINT256_MAX).encode() + b"]",
            "uint256",
            UINT256_MAX,
            id="uint256-max",
        ),
    ],
)
def test_extraction_and_abi(
    output: bytes, spec: ExtractSpec, typed: bytes, abi_type: str, decoded: object
) -> None:
    assert extract(output, spec) == typed
    assert decode([abi_type], abi_encode(typed, spec)) == (decoded,)


@pytest.mark.parametrize(
    ("output", "spec", "reason"),
    [
        pytest.param(b"[1, 2]", ExtractSpec(ValueType.INT256), "exactly one value", id="two-values"),
        pytest.param(b"[]", ExtractSpec(ValueType.INT256), "exactly one value", id="none"),
        pytest.param(b'["abc"]', ExtractSpec(ValueType.INT256), "not a number", id="not-a-number"),
        pytest.param(b"[true]", ExtractSpec(ValueType.INT256), "not a number", id="bool-is-not-a-number"),
        pytest.param(b"[-1]", ExtractSpec(ValueType.UINT256), "out of uint256 range", id="negative-uint"),
        pytest.param(
            b"[" + str(INT256_MAX + 1).encode() + b"]",
            ExtractSpec(ValueType.INT256),
            "out of int256 range",
            id="over-int256",
        ),
        pytest.param(b'["1e999"]', ExtractSpec(ValueType.INT256), "out of int256 range", id="huge-exponent"),
        pytest.param(b"[1]", ExtractSpec(ValueType.STRING), "not a JSON string", id="number-as-string"),
        pytest.param(b'["true"]', ExtractSpec(ValueType.BOOL), "not a JSON boolean", id="string-as-bool"),
        pytest.param(b"not json", ExtractSpec(ValueType.BOOL), "not JSON", id="not-json"),
    ],
)
def test_extraction_failures_are_error_with_a_reason(output: bytes, spec: ExtractSpec, reason: str) -> None:
    with pytest.raises(OracleFailure, match=reason) as raised:
        extract(output, spec)
    assert raised.value.code is OracleCode.Error


def test_decimals_are_for_numbers_only() -> None:
    with pytest.raises(ValueError, match="int256 and uint256 only"):
        ExtractSpec(ValueType.STRING, 2)
    with pytest.raises(ValueError, match=r"0\.\.77"):
        ExtractSpec(ValueType.INT256, 78)


def test_an_aggregated_mean_is_truncated_like_any_number() -> None:
    # The median of [1] and [2] (extracted integers) is [1.5]; on chain it is 1.
    assert decode(["int256"], abi_encode(b"[1.5]", ExtractSpec(ValueType.INT256, 8))) == (1,)


def test_an_empty_rfc9535_query_is_refused_cleanly() -> None:
    # jsonpath-rfc9535 2.0.2 raises IndexError while formatting its own error for "" (found by the
    # OpenAPI fuzz test): the refusal must still be QueryInvalid / FilterError, never a crash.
    with pytest.raises(QueryInvalid):
        check_query(RFC, "")
    with pytest.raises(FilterError, match="invalid filter"):
        select(b"{}", RFC, "")

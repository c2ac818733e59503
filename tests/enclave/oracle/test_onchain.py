"""The gateway oracle formats (``enclave/oracle/onchain.py``; docs/oracle.md §8): payloads in, callback
results out, the 1,024-byte cap. Pure functions, no chain."""

from __future__ import annotations

import json
import re

import pytest
from eth_abi.abi import encode as abi_encode

from neo_service_layer.enclave.oracle.codes import OracleCode
from neo_service_layer.enclave.oracle.extract import ExtractSpec, ValueType
from neo_service_layer.enclave.oracle.onchain import (
    CHAIN_ACCOUNT_ID,
    MAX_ONCHAIN_DATA_BYTES,
    ChainQuery,
    PayloadError,
    decode_evm_payload,
    decode_n3_payload,
    evm_result,
    n3_result,
    onchain_outcome,
    split_evm_result,
    split_n3_result,
)
from neo_service_layer.ids import ACCOUNT_ID_PATTERN

URL = "https://api.oracle.test/price"


def evm(url: str, filter_: str) -> bytes:
    return abi_encode(["string", "string"], [url, filter_])


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(evm(URL, "$.data.price"), ChainQuery(URL, "$.data.price"), id="url-and-filter"),
        pytest.param(evm(URL, ""), ChainQuery(URL, None), id="empty-filter-is-none"),
        pytest.param(evm(URL, "$"), ChainQuery(URL, "$"), id="dollar-wraps"),
        pytest.param(evm("https://ü.test/", "$['ä']"), ChainQuery("https://ü.test/", "$['ä']"), id="utf8"),
    ],
)
def test_evm_payloads_decode(payload: bytes, expected: ChainQuery) -> None:
    assert decode_evm_payload(payload) == expected


def typed(url: str, filter_: str, extract: str) -> bytes:
    return abi_encode(["string", "string", "string"], [url, filter_, extract])


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(
            typed(URL, "$.p", "uint256:8"),
            ChainQuery(URL, "$.p", ExtractSpec(ValueType.UINT256, 8)),
            id="uint256-with-decimals",
        ),
        pytest.param(
            typed(URL, "$.p", "int256"), ChainQuery(URL, "$.p", ExtractSpec(ValueType.INT256)), id="int256"
        ),
        pytest.param(
            typed(URL, "$.ok", "bool"), ChainQuery(URL, "$.ok", ExtractSpec(ValueType.BOOL)), id="bool"
        ),
        pytest.param(typed(URL, "$.p", ""), ChainQuery(URL, "$.p"), id="empty-extract-is-none"),
    ],
)
def test_evm_typed_payloads_decode(payload: bytes, expected: ChainQuery) -> None:
    assert decode_evm_payload(payload) == expected


@pytest.mark.parametrize(
    ("extract", "match"),
    [
        pytest.param("uint128", "not type", id="unknown-type"),
        pytest.param("uint256:x", "not type", id="decimals-not-a-number"),
        pytest.param("uint256:78", "not type", id="too-many-decimals"),
        pytest.param("string:2", "not type", id="decimals-on-a-string"),
    ],
)
def test_evm_typed_payloads_that_do_not_decode(extract: str, match: str) -> None:
    with pytest.raises(PayloadError, match=match):
        decode_evm_payload(typed(URL, "$.p", extract))
    with pytest.raises(PayloadError, match="canonical"):
        decode_evm_payload(typed(URL, "$.p", "uint256") + bytes(32))


def _bad_utf8() -> bytes:
    payload = bytearray(evm("https://x", "ab"))
    payload[-32] = 0xFF  # the filter's first byte
    return bytes(payload)


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        pytest.param(b"", "abi.encode", id="empty"),
        pytest.param(b"https://api.oracle.test/price", "abi.encode", id="raw-url"),
        pytest.param(evm(URL, "$")[:-1], "abi.encode", id="truncated"),
        pytest.param(evm(URL, "$") + bytes(32), "canonical", id="trailing-word"),
        pytest.param(abi_encode(["string"], [URL]), "abi.encode", id="one-string"),
        pytest.param(_bad_utf8(), "abi.encode", id="invalid-utf8"),
        pytest.param(evm("", "$"), "URL", id="empty-url"),
        pytest.param(evm("https://x/" + "a" * 2048, ""), "URL is over", id="long-url"),
        pytest.param(evm(URL, "$" + "a" * 1024), "filter is over", id="long-filter"),
    ],
)
def test_evm_payloads_that_do_not_decode(payload: bytes, match: str) -> None:
    with pytest.raises(PayloadError, match=match):
        decode_evm_payload(payload)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # StdLib.jsonSerialize writes compact JSON (neo-go pkg/core/native/std.go, stackitem.ToJSON).
        pytest.param(b'["https://api.oracle.test/price","$.a"]', ChainQuery(URL, "$.a"), id="url-and-filter"),
        pytest.param(b'["https://api.oracle.test/price",null]', ChainQuery(URL, None), id="null-filter"),
        pytest.param(b'["https://api.oracle.test/price",""]', ChainQuery(URL, None), id="empty-filter"),
        pytest.param(json.dumps([URL, "$[0]"]).encode(), ChainQuery(URL, "$[0]"), id="spaced"),
        pytest.param('["https://ü.test/","$"]'.encode(), ChainQuery("https://ü.test/", "$"), id="utf8"),
    ],
)
def test_n3_payloads_decode(payload: bytes, expected: ChainQuery) -> None:
    assert decode_n3_payload(payload) == expected


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        pytest.param(b"", "not UTF-8 JSON", id="empty"),
        pytest.param(b"\xff[]", "not UTF-8 JSON", id="invalid-utf8"),
        pytest.param(b'{"url": "https://x"}', "array of two", id="object"),
        pytest.param(b'["https://x"]', "array of two", id="one-item"),
        pytest.param(b'["https://x", "$", "$"]', "array of two", id="three-items"),
        pytest.param(b'[1, "$"]', "URL", id="url-not-string"),
        pytest.param(b'["", "$"]', "URL", id="empty-url"),
        pytest.param(b'["https://x", 5]', "filter", id="filter-number"),
        pytest.param(b'["https://x", NaN]', "NaN is not JSON", id="nan"),
        pytest.param(b'["https://x", "$"] x', "not UTF-8 JSON", id="trailing"),
        pytest.param(b"[" * 100_000, "not UTF-8 JSON", id="deep"),
    ],
)
def test_n3_payloads_that_do_not_decode(payload: bytes, match: str) -> None:
    with pytest.raises(PayloadError, match=match):
        decode_n3_payload(payload)


@pytest.mark.parametrize(
    ("code", "data", "expected"),
    [
        pytest.param(OracleCode.Success, b"[1]", (OracleCode.Success, b"[1]"), id="success"),
        pytest.param(OracleCode.Success, b"", (OracleCode.Success, b""), id="success-empty"),
        pytest.param(
            OracleCode.Success,
            b"x" * MAX_ONCHAIN_DATA_BYTES,
            (OracleCode.Success, b"x" * MAX_ONCHAIN_DATA_BYTES),
            id="at-cap",
        ),
        pytest.param(
            OracleCode.Success,
            b"x" * (MAX_ONCHAIN_DATA_BYTES + 1),
            (OracleCode.ResponseTooLarge, b""),
            id="over-cap",
        ),
        pytest.param(OracleCode.NotFound, b"ignored", (OracleCode.NotFound, b""), id="failure-has-no-data"),
    ],
)
def test_the_outcome_is_capped(code: OracleCode, data: bytes, expected: tuple[OracleCode, bytes]) -> None:
    assert onchain_outcome(code, data) == expected


@pytest.mark.parametrize("code", list(OracleCode), ids=lambda c: c.name)
def test_results_round_trip(code: OracleCode) -> None:
    data = b'["43000.12"]' if code is OracleCode.Success else b""
    assert evm_result(code, data)[:32] == int(code).to_bytes(32, "big")
    assert split_evm_result(evm_result(code, data)) == (code, data)
    assert n3_result(code, data) == bytes([int(code)]) + data
    assert split_n3_result(n3_result(code, data)) == (code, data)


def test_the_platform_account_is_a_valid_account_id() -> None:
    assert re.fullmatch(ACCOUNT_ID_PATTERN, CHAIN_ACCOUNT_ID)

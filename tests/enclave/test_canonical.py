"""Canonical JSON (RFC 8785 subset), hashes and strict base64 (RFC 4648)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from neo_service_layer.enclave.canonical import (
    MAX_SAFE_INTEGER,
    CanonicalJSONError,
    b64decode,
    b64encode,
    canonical_json,
    request_hash,
    result_hash,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param({"b": 1, "a": 2}, b'{"a":2,"b":1}', id="sorted-keys-no-whitespace"),
        pytest.param({"a": [1, {"d": None, "c": True}]}, b'{"a":[1,{"c":true,"d":null}]}', id="nested"),
        pytest.param("é€😀", '"é€😀"'.encode(), id="utf8-not-escaped"),
        pytest.param('\u0007\b\t\n\f\r"\\/', b'"\\u0007\\b\\t\\n\\f\\r\\"\\\\/"', id="rfc8785-escapes"),
        pytest.param("\u007f\u2028", '"\u007f\u2028"'.encode(), id="del-and-line-separator-literal"),
        pytest.param(-MAX_SAFE_INTEGER, b"-9007199254740991", id="min-safe-integer"),
        pytest.param([], b"[]", id="empty-array"),
        pytest.param({}, b"{}", id="empty-object"),
        pytest.param(False, b"false", id="false"),
    ],
)
def test_canonical_encoding(value: Any, expected: bytes) -> None:
    assert canonical_json(value) == expected


def test_keys_sort_by_utf16_code_units_rfc8785_3_2_3() -> None:
    # The RFC's own sorting example: U+1F600 (surrogates D83D DE00) sorts before U+FB33,
    # although its code point is larger.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected_order = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    encoded = canonical_json(value).decode()
    positions = [encoded.index(f'"{key}"' if key != "\r" else '"\\r"') for key in expected_order]
    assert positions == sorted(positions)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(1.5, id="float"),
        pytest.param({"a": 0.0}, id="nested-float"),
        pytest.param(MAX_SAFE_INTEGER + 1, id="integer-beyond-2^53"),
        pytest.param({1: "a"}, id="non-string-key"),
        pytest.param("\ud800", id="lone-surrogate"),
        pytest.param(b"bytes", id="bytes"),
        pytest.param({"a": {1, 2}}, id="set"),
    ],
)
def test_values_without_a_canonical_form_are_refused(value: Any) -> None:
    with pytest.raises(CanonicalJSONError):
        canonical_json(value)


def test_deep_nesting_is_refused_not_crashing() -> None:
    value: Any = []
    for _ in range(100_000):
        value = [value]
    with pytest.raises(CanonicalJSONError):
        canonical_json(value)


def test_request_and_result_hashes_are_sha256_of_canonical_json() -> None:
    params = {"message": "aGk=", "key_id": "k1"}
    expected = hashlib.sha256(
        b'{"account_id":"acc","op":"keys.sign","params":{"key_id":"k1","message":"aGk="}}'
    ).digest()
    assert request_hash("keys.sign", "acc", params) == expected
    assert result_hash({"b": 1, "a": "x"}) == hashlib.sha256(b'{"a":"x","b":1}').digest()


@pytest.mark.parametrize(
    "data", [b"", b"\x00", b"ab", b"abc", bytes(range(256))], ids=lambda d: f"len{len(d)}"
)
def test_base64_round_trip(data: bytes) -> None:
    assert b64decode(b64encode(data)) == data


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("AAE", id="missing-padding"),
        pytest.param("AAF=", id="non-zero-padding-bits"),
        pytest.param("AA-_", id="urlsafe-alphabet"),
        pytest.param("AA E", id="whitespace"),
        pytest.param("AAE==", id="extra-padding"),
        pytest.param("é", id="non-ascii"),
    ],
)
def test_base64_decoding_is_strict(text: str) -> None:
    with pytest.raises(ValueError, match="base64"):
        b64decode(text)

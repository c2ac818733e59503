"""go-ordered-json's decoding and encoding (ordered_json.py): its two decoders agree, its float format.

The Go behaviour itself is pinned through the filter in test_filter.py; these check the shortcuts
ordered_json.py takes for speed against its general paths.
"""

from __future__ import annotations

import random
import struct

import pytest

from neo_service_layer.enclave.oracle import ordered_json
from neo_service_layer.enclave.oracle.ordered_json import JsonDecodeError, JsonObject, decode_first, encode

DOCUMENTS = [
    '{"a":[1,2.5,-0,1e400]}',
    '{"a":[1,2.5,-0,1e-400,12345678901234567890]}',
    '[{"b":1,"a":2,"b":3},{},[],"",null,true,false]',
    '  [ "x\\n\\u00e9\\/\\"" , { "k" : [ ] } ]  trailing',
    '{"\\u00e9":"\\ud83d\\ude00"}',
    "[NaN]",
    "[Infinity]",
    "[-Infinity]",
    "[1.e5]",
    "[01]",
    '{"a":1,}',
    '["\\x"]',
    '["a\tb"]',
    "[" * 50 + "]" * 50,
    "[" * 50 + "]" * 49,
]


@pytest.mark.parametrize("text", [pytest.param(t, id=f"doc{i}") for i, t in enumerate(DOCUMENTS)])
def test_the_c_and_iterative_decoders_agree(text: str) -> None:
    pos = len(text) - len(text.lstrip(" \t\r\n"))
    try:
        expected: object = ordered_json._decode_iterative(text, pos)
    except JsonDecodeError:
        expected = JsonDecodeError
    try:
        got: object = ordered_json._C_DECODER.raw_decode(text, pos)[0]
    except ValueError:  # the C decoder's errors (JsonDecodeError is one)
        got = JsonDecodeError
    assert got == expected
    try:
        first: object = decode_first(text)
    except JsonDecodeError:
        first = JsonDecodeError
    assert first == expected


def test_decoded_values() -> None:
    assert decode_first('{"b":[1,"x",null],"a":true}') == JsonObject([("b", [1.0, "x", None]), ("a", True)])
    assert type(JsonObject([]).members) is list


def random_floats(count: int) -> list[float]:
    rng = random.Random(20261206)
    values = [struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(count)]
    values += [rng.uniform(-1e6, 1e6) for _ in range(count)]
    values += [float(rng.randrange(-(2**60), 2**60)) for _ in range(count)]
    values += [rng.choice([1, -1]) * 10.0 ** rng.randrange(-30, 30) for _ in range(count)]
    return [v for v in values if v == v and abs(v) != float("inf")]


def test_float_shortcuts_match_the_general_format() -> None:
    for value in [*random_floats(2000), 2.0**53, 2.0**53 + 2, 1e16, 1e21, 1e-6, 1e-4, 9.999999999999999e20]:
        if value != 0:
            assert ordered_json._format_float(value) == ordered_json._format_shortest(value), value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(1e21, "1e+21", id="1e21"),
        pytest.param(1e20, "100000000000000000000", id="1e20"),
        pytest.param(123456789e13, "1.23456789e+21", id="exponent-with-fraction"),
        pytest.param(1e-7, "1e-7", id="1e-7-short-exponent"),
        pytest.param(1.5e-10, "1.5e-10", id="two-digit-exponent"),
        pytest.param(1e-100, "1e-100", id="three-digit-exponent"),
        pytest.param(0.000001, "0.000001", id="1e-6-plain"),
        pytest.param(0.00001234, "0.00001234", id="below-1e-4-plain"),
        pytest.param(2.0**53, "9007199254740992", id="2^53"),
        pytest.param(2.0**60, "1152921504606847000", id="2^60-shortest-digits"),
        pytest.param(-2.5, "-2.5", id="negative"),
        pytest.param(-0.0, "-0", id="minus-zero"),
    ],
)
def test_float_format(value: float, expected: str) -> None:
    # encode.go floatEncoder: strconv.AppendFloat(f, 'f' or 'e', -1, 64), then e-0X -> e-X.
    assert encode(value) == expected.encode()


def test_encode_rejects_what_is_not_json() -> None:
    with pytest.raises(TypeError, match="not a JSON value"):
        encode((1, 2))  # type: ignore[arg-type]

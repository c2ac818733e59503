"""The oracle's filter is neo-go's (pkg/services/oracle/filter.go and filter_test.go), byte for byte.

The first tables are neo-go's ``filter_test.go`` (``TestFilter``, ``TestFilterOOM``) with neo-go's
subtest names as ids; the rest are our own cases for what ``filter`` does with bytes that are not a
plain JSON document, and for go-ordered-json's encoding (``encode.go``, ``tables.go``).
"""

from __future__ import annotations

import pytest

from neo_service_layer.enclave.oracle.codes import OracleCode, OracleFailure
from neo_service_layer.enclave.oracle.filter import (
    MAX_DEPTH,
    MAX_FILTER_BYTES,
    MAX_OBJECTS,
    FilterError,
    apply_filter,
)
from neo_service_layer.enclave.oracle.jsonpath import parse_path

FILTER_JS = b"""{
  \t"Stores": [ "Lambton Quay",\t"Willis Street" ],
  \t"Manufacturers": [
\t\t{
\t\t\t"Name": "Acme Co",
\t\t\t"Products": [
\t\t        { "Name": "Anvil", "Price": 50 }
      \t\t]
    \t},
    \t{
      \t\t"Name": "Contoso",
      \t\t"Products": [
        \t\t{ "Name": "Elbow Grease", "Price": 99.95 },
        \t\t{ "Name": "Headlight Fluid", "Price": 4 }
      \t\t]
    \t}
  \t]
}"""


# TestFilter (filter_test.go): require.Equal on the bytes.
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("$.Name", b"[]", id="TestFilter/$.Name"),
        pytest.param("$.Manufacturers[0].Name", b'["Acme Co"]', id="TestFilter/$.Manufacturers[0].Name"),
        pytest.param(
            "$.Manufacturers[0].Products[0].Price",
            b"[50]",
            id="TestFilter/$.Manufacturers[0].Products[0].Price",
        ),
        pytest.param(
            "$.Manufacturers[1].Products[0].Name",
            b'["Elbow Grease"]',
            id="TestFilter/$.Manufacturers[1].Products[0].Name",
        ),
        pytest.param(
            "$.Manufacturers[1].Products[0]",
            b'[{"Name":"Elbow Grease","Price":99.95}]',
            id="TestFilter/$.Manufacturers[1].Products[0]",
        ),
    ],
)
def test_neo_go_filter(path: str, expected: bytes) -> None:
    assert apply_filter(FILTER_JS, path) == expected


def test_neo_go_filter_not_utf8() -> None:
    # TestFilter/not_an_UTF-8: the UTF-8 check comes first, before the (invalid) path is looked at.
    with pytest.raises(FilterError, match="not UTF-8"):
        apply_filter(b"\xff", "Manufacturers[0].Name")


def oom_path(depth: int, width: int) -> str:
    """TestFilterOOM's ``construct``: ``depth`` unions of ``width`` zeros."""
    return "$" + ("[" + ",".join(["0"] * width) + "]") * depth


def test_neo_go_filter_oom_good() -> None:
    # TestFilterOOM/good: 32 * 32 = 1,024 values, exactly MAX_OBJECTS.
    assert apply_filter(b"[[{}]]", oom_path(2, 32)) == b"[" + b",".join([b"{}"] * 1024) + b"]"


@pytest.mark.parametrize(
    ("document", "path"),
    [
        pytest.param(b"[[[[[[{}]]]]]]", oom_path(3, 32), id="TestFilterOOM/too_big"),
        pytest.param(b"[[[[[[{}]]]]]]", oom_path(6, 64), id="TestFilterOOM/no_oom"),
    ],
)
def test_neo_go_filter_oom(document: bytes, path: str) -> None:
    with pytest.raises(FilterError, match="invalid filter: too many"):
        apply_filter(document, path)


# Our own cases.


def test_no_filter_returns_the_body_untouched() -> None:
    # filterRequest: a nil Filter skips filter(), so even bytes that are neither UTF-8 nor JSON pass.
    for body in (b"\xff\xfe", b"not json", b"", FILTER_JS):
        assert apply_filter(body, None) is body


def test_the_empty_filter_wraps_the_document() -> None:
    # A non-nil empty filter runs filter(): the document is checked, decoded and re-encoded.
    assert apply_filter(b' { "b" : [1, 2.50, "x"] , "a" : null } ', "") == b'[{"b":[1,2.5,"x"],"a":null}]'
    with pytest.raises(FilterError, match="invalid JSON"):
        apply_filter(b"not json", "")


def test_a_failure_is_the_error_code() -> None:
    with pytest.raises(OracleFailure) as caught:
        apply_filter(b"{}", "$[")
    assert isinstance(caught.value, FilterError)
    assert (caught.value.code, caught.value.detail) == (OracleCode.Error, "invalid filter: invalid path")


def test_a_parsed_path_filters_the_same() -> None:
    path = "$.Manufacturers[*].Products[*].Name"
    expected = b'["Anvil","Elbow Grease","Headlight Fluid"]'
    assert apply_filter(FILTER_JS, path) == expected
    assert apply_filter(FILTER_JS, parse_path(path)) == expected


def test_constants() -> None:
    # jsonpath.go maxNestingDepth, maxObjects; native/oracle.go maxFilterLength.
    assert (MAX_DEPTH, MAX_OBJECTS, MAX_FILTER_BYTES) == (6, 1024, 128)


# Documents that filter() rejects: utf8.Valid, then the go-ordered-json Decoder.
@pytest.mark.parametrize(
    ("document", "reason"),
    [
        pytest.param(b'["\xff"]', "not UTF-8", id="invalid-byte-in-string"),
        pytest.param(b'"\xc0\x80"', "not UTF-8", id="overlong-nul"),
        pytest.param(b'"\xed\xa0\x80"', "not UTF-8", id="encoded-surrogate"),
        pytest.param(b'"\xf4\x90\x80\x80"', "not UTF-8", id="above-U+10FFFF"),
        pytest.param(b'"\xe2\x82"', "not UTF-8", id="truncated-sequence"),
        pytest.param(b"\xef\xbb\xbf{}", "invalid JSON", id="leading-bom"),
        pytest.param(b"", "invalid JSON", id="empty"),
        pytest.param(b" \n\t\r", "invalid JSON", id="whitespace-only"),
        pytest.param(b"\x0c{}", "invalid JSON", id="form-feed-is-not-whitespace"),
        pytest.param(b"NaN", "invalid JSON", id="nan"),
        pytest.param(b"Infinity", "invalid JSON", id="infinity"),
        pytest.param(b"-Infinity", "invalid JSON", id="minus-infinity"),
        pytest.param(b"[NaN]", "invalid JSON", id="nan-in-array"),
        pytest.param(b"1e400", "out of float64 range", id="number-overflows-float64"),
        pytest.param(b"[-1e309]", "out of float64 range", id="negative-overflow"),
        pytest.param(b"1.", "invalid number", id="dot-without-digits"),
        pytest.param(b"1.e5", "invalid number", id="dot-then-exponent"),
        pytest.param(b"1e", "invalid number", id="exponent-without-digits"),
        pytest.param(b"1e+", "invalid number", id="exponent-sign-without-digits"),
        pytest.param(b"1.5E", "invalid number", id="fraction-then-bare-exponent"),
        pytest.param(b"-", "invalid number", id="bare-minus"),
        pytest.param(b"+1", "invalid JSON", id="plus-sign"),
        pytest.param(b".5", "invalid JSON", id="leading-dot"),
        pytest.param(b"[01]", "invalid JSON", id="leading-zero-in-array"),
        pytest.param(b"[1,]", "invalid JSON", id="trailing-comma"),
        pytest.param(b'{"a":1,}', "invalid JSON", id="trailing-comma-object"),
        pytest.param(b"{'a':1}", "invalid JSON", id="single-quotes"),
        pytest.param(b"{a:1}", "invalid JSON", id="bare-key"),
        pytest.param(b'{"a" 1}', "invalid JSON", id="missing-colon"),
        pytest.param(b"[1 2]", "invalid JSON", id="missing-comma"),
        pytest.param(b"[1", "invalid JSON", id="unclosed-array"),
        pytest.param(b'{"a":1', "invalid JSON", id="unclosed-object"),
        pytest.param(b"[1}", "invalid JSON", id="mismatched-bracket"),
        pytest.param(b'"abc', "unterminated string", id="unterminated-string"),
        pytest.param(b'"a\tb"', "control character", id="raw-tab-in-string"),
        pytest.param(b'"a\x00b"', "control character", id="raw-nul-in-string"),
        pytest.param(b'"\\x41"', "invalid escape", id="unknown-escape"),
        pytest.param(b'"\\\'"', "invalid escape", id="escaped-single-quote"),
        pytest.param(b'"\\u12"', "invalid escape", id="short-unicode-escape"),
        pytest.param(b'"\\u12G4"', "invalid escape", id="non-hex-unicode-escape"),
        pytest.param(b"tru", "invalid JSON", id="truncated-true"),
        pytest.param(b"nul", "invalid JSON", id="truncated-null"),
        pytest.param(b"True", "invalid JSON", id="capitalised-true"),
    ],
)
def test_invalid_documents(document: bytes, reason: str) -> None:
    with pytest.raises(FilterError, match=reason):
        apply_filter(document, "$")


# Documents the Decoder accepts, and what Marshal makes of them (the filter "" keeps everything).
@pytest.mark.parametrize(
    ("document", "expected"),
    [
        # Decoder.Decode reads one value and ignores the rest of the stream (stream.go readValue).
        pytest.param(b"{}x", b"[{}]", id="trailing-garbage-after-object"),
        pytest.param(b'[1,2] 3 "x"', b"[[1,2]]", id="trailing-values"),
        pytest.param(b"{} \xef\xbb\xbf", b"[{}]", id="trailing-bom"),
        pytest.param(b"01", b"[0]", id="top-level-leading-zero"),
        pytest.param(b"1.5.", b"[1.5]", id="top-level-second-dot"),
        pytest.param(b"1e5e", b"[100000]", id="top-level-second-exponent"),
        pytest.param(b"-0x", b"[-0]", id="top-level-number-then-letter"),
        pytest.param(b"truex", b"[true]", id="top-level-literal-then-letter"),
        pytest.param(b'"a""b"', b'["a"]', id="top-level-string-then-string"),
        pytest.param(b" \t\r\n null", b"[null]", id="leading-whitespace"),
        # Every number is a float64 (convertNumber without UseNumber), written as ES6 does.
        pytest.param(
            b"[1.0,1e2,1E+2,100e-2,-0,-0.0,0e10]", b"[[1,100,100,1,-0,-0,0]]", id="numbers-as-float64"
        ),
        pytest.param(b"12345678901234567890", b"[12345678901234567000]", id="big-integer-rounded"),
        pytest.param(b"9007199254740993", b"[9007199254740992]", id="2^53+1-rounds-to-even"),
        pytest.param(
            b"[1e20,1e21,123456789e13]",
            b"[[100000000000000000000,1e+21,1.23456789e+21]]",
            id="exponent-from-1e21",
        ),
        pytest.param(
            b"[0.000001,0.0000001,1.5e-7,1e-10,1e-100]",
            b"[[0.000001,1e-7,1.5e-7,1e-10,1e-100]]",
            id="exponent-below-1e-6",
        ),
        pytest.param(b"[0.1,123.456,-2.5e3]", b"[[0.1,123.456,-2500]]", id="plain-fractions"),
        pytest.param(
            b"[5e-324,1e-400,1.7976931348623157e308]",
            b"[[5e-324,0,1.7976931348623157e+308]]",
            id="float64-extremes",
        ),
        # Strings: \u escapes decoded, lone surrogates U+FFFD (decode.go unquoteBytes) ...
        pytest.param(b'"\\ud83d\\ude00"', b'["\\uD83D\\uDE00"]', id="surrogate-pair"),
        pytest.param(b'"\\ud800"', b'["\\uFFFD"]', id="lone-high-surrogate"),
        pytest.param(b'"\\udc00x"', b'["\\uFFFDx"]', id="lone-low-surrogate"),
        pytest.param(b'"\\ud800\\u0041"', b'["\\uFFFDA"]', id="high-surrogate-then-other-escape"),
        pytest.param(b'"\\udc00\\ud800\\udc00"', b'["\\uFFFD\\uD800\\uDC00"]', id="low-then-pair"),
        # ... and written ASCII only, htmlSafeSet characters as they are (encode.go encodeState.string).
        pytest.param(
            b"\"<a href='x'>&+`</a>\"",
            b'["\\u003Ca href=\\u0027x\\u0027\\u003E\\u0026\\u002B\\u0060\\u003C/a\\u003E"]',
            id="html-characters",
        ),
        pytest.param(b'"q\\"b\\\\s\\/"', b'["q\\u0022b\\\\s/"]', id="quote-backslash-slash"),
        pytest.param(
            b'"\\b\\f\\n\\r\\t\\u0001\\u001f\x7f"',
            b'["\\b\\f\\n\\r\\t\\u0001\\u001F\\u007F"]',
            id="control-characters",
        ),
        pytest.param(
            '"é中\u2028\u2029\U0001f600"'.encode(),
            b'["\\u00E9\\u4E2D\\u2028\\u2029\\uD83D\\uDE00"]',
            id="non-ascii",
        ),
        pytest.param(
            b'" !#$%()*,-./09:;=?@AZ[]^_az{|}~"', b'[" !#$%()*,-./09:;=?@AZ[]^_az{|}~"]', id="safe-ascii"
        ),
        pytest.param(
            '{"ключ":"значение"}'.encode(),
            b'[{"\\u043A\\u043B\\u044E\\u0447":"\\u0437\\u043D\\u0430\\u0447\\u0435\\u043D\\u0438\\u0435"}]',
            id="non-ascii-key",
        ),
        # Objects keep document order and duplicate keys (UseOrderedObject: a member list).
        pytest.param(b'{"z":1,"a":2,"z":3}', b'[{"z":1,"a":2,"z":3}]', id="order-and-duplicates"),
        pytest.param(b'[{},[],"",{"":[]}]', b'[[{},[],"",{"":[]}]]', id="empty-things"),
    ],
)
def test_decode_and_encode(document: bytes, expected: bytes) -> None:
    assert apply_filter(document, "") == expected


def test_deep_documents_do_not_exhaust_the_stack() -> None:
    # go-ordered-json's scanner has no nesting limit; 30,000 levels fit in neo-go's 64 KiB body.
    depth = 30_000
    document = b"[" * depth + b"1" + b"]" * depth
    assert apply_filter(document, "") == b"[" + document + b"]"
    assert apply_filter(document, "$[0][0][0][0][0][0]") == b"[" + document[6:-6] + b"]"
    nested = b'{"a":' * depth + b"null" + b"}" * depth
    assert apply_filter(nested, "$..a") == b"[" + b",".join(nested[5 * n : -n] for n in range(1, 8)) + b"]"


def test_whole_document_round_trip() -> None:
    document = (
        b'{"id":"0x1","n":[1,-2,3.25,1e-7,null,true,false],"s":"caf\xc3\xa9 <b>","o":{"k":{"k":{}}},"e":[]}'
    )
    assert apply_filter(document, "$") == (
        b'[{"id":"0x1","n":[1,-2,3.25,1e-7,null,true,false],"s":"caf\\u00E9 \\u003Cb\\u003E",'
        b'"o":{"k":{"k":{}}},"e":[]}]'
    )

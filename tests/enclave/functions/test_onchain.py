"""The gateway functions formats (``enclave/functions/onchain.py``; docs/functions.md "Calls from
contracts"): payloads in, callback results out, consumer keys. Pure functions, no chain, no enclave."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from eth_abi.abi import encode as abi_encode

from neo_service_layer.enclave.functions.onchain import (
    MAX_ARGS_BYTES,
    MAX_ERROR_DATA_BYTES,
    MAX_PAYLOAD_BYTES,
    FunctionCall,
    FunctionCode,
    PayloadError,
    consumer_key,
    decode_evm_payload,
    decode_evm_result,
    decode_n3_payload,
    decode_n3_result,
    encode_evm_payload,
    encode_n3_payload,
    error_data,
    evm_result,
    n3_result,
    parse_args,
    success_data,
)
from neo_service_layer.enclave.functions.runs import RunStatus
from neo_service_layer.enclave.oracle.onchain import MAX_ONCHAIN_DATA_BYTES

FN = "fn_01HZX3"
SHA = hashlib.sha256(b"return args.a + 1").digest()
EVM_TYPES = ["string", "bytes32", "string"]


def evm(function_id: str, source_hash: bytes, args: str) -> bytes:
    return abi_encode(EVM_TYPES, [function_id, source_hash, args])


def n3(*items: object) -> bytes:
    return json.dumps(list(items), separators=(",", ":")).encode()


def test_codes_are_fixed_numbers() -> None:
    """The numbers contracts branch on (STYLE.md 5): a renumbering fails here first."""
    assert {code.name: int(code) for code in FunctionCode} == {
        "Success": 0,
        "Failed": 1,
        "TimedOut": 2,
        "MemoryExceeded": 3,
        "OutputTooLarge": 4,
        "Crashed": 5,
        "ResultTooLarge": 6,
        "FunctionNotFound": 7,
        "ConsumerNotAllowed": 8,
        "SourceMismatch": 9,
        "ArgsInvalid": 10,
        "PayloadInvalid": 11,
    }
    # Run statuses map 1:1 onto 0-5, in the enum's order.
    assert [status.value for status in RunStatus] == [
        "succeeded",
        "failed",
        "timed_out",
        "memory_exceeded",
        "output_too_large",
        "crashed",
    ]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(
            evm(FN, SHA, '{"a":1}'), FunctionCall(FN, SHA, {"a": 1}, '{"a":1}'), id="pinned-with-args"
        ),
        pytest.param(evm(FN, bytes(32), ""), FunctionCall(FN, None, None, ""), id="zero-hash-empty-args"),
        pytest.param(evm(FN, SHA, "null"), FunctionCall(FN, SHA, None, "null"), id="null-args"),
        pytest.param(
            evm(FN, SHA, '["ü",-9007199254740991]'),
            FunctionCall(FN, SHA, ["ü", -(2**53 - 1)], '["ü",-9007199254740991]'),
            id="utf8-and-smallest-safe-integer",
        ),
    ],
)
def test_evm_payloads_decode(payload: bytes, expected: FunctionCall) -> None:
    assert decode_evm_payload(payload) == expected


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(
            n3(FN, SHA.hex(), '{"a":1}'), FunctionCall(FN, SHA, {"a": 1}, '{"a":1}'), id="pinned-with-args"
        ),
        pytest.param(n3(FN, "", ""), FunctionCall(FN, None, None, ""), id="empty-hash-empty-args"),
        pytest.param(
            b'["fn_1", "", "[\\"\\u00fc\\"]"]',
            FunctionCall("fn_1", None, ["ü"], '["ü"]'),
            id="escaped",
        ),
        pytest.param('["fn_1","","\\"ü\\""]'.encode(), FunctionCall("fn_1", None, "ü", '"ü"'), id="raw-utf8"),
    ],
)
def test_n3_payloads_decode(payload: bytes, expected: FunctionCall) -> None:
    assert decode_n3_payload(payload) == expected


def _evm_trailing() -> bytes:
    return evm(FN, SHA, "") + bytes(32)


def _evm_dirty_padding() -> bytes:
    payload = bytearray(evm(FN, SHA, "1"))
    payload[-1] = 1  # the args' padding: "1" then 31 bytes that must be zero
    return bytes(payload)


def _evm_bad_utf8() -> bytes:
    good = evm("fn_\u00e9", SHA, "")
    return good.replace("fn_\u00e9".encode(), b"fn_\xff\xfe")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param(b"", "not abi.encode", id="empty"),
        pytest.param(b"not abi at all", "not abi.encode", id="garbage"),
        pytest.param(abi_encode(["string", "string"], [FN, "x"]), "not", id="two-strings"),
        pytest.param(_evm_trailing(), "canonical", id="trailing-bytes"),
        pytest.param(_evm_dirty_padding(), "abi.encode", id="non-zero-padding"),
        pytest.param(_evm_bad_utf8(), "not abi.encode", id="id-not-utf8"),
        pytest.param(evm("", SHA, ""), "is not a function id", id="empty-id"),
        pytest.param(evm("sec_1", SHA, ""), "is not a function id", id="another-kind-of-id"),
        pytest.param(evm("fn_../x", SHA, ""), "is not a function id", id="id-with-path"),
        pytest.param(evm("fn_" + "a" * 41, SHA, ""), "is not a function id", id="id-too-long"),
        pytest.param(b"\x00" * (MAX_PAYLOAD_BYTES + 1), "over", id="oversize"),
    ],
)
def test_evm_payloads_that_are_not_calls(payload: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        decode_evm_payload(payload)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param(b"", "not UTF-8 JSON", id="empty"),
        pytest.param(b"\xff\xfe", "not UTF-8 JSON", id="not-utf8"),
        pytest.param(b'["fn_1","",', "not UTF-8 JSON", id="truncated"),
        pytest.param(b'["fn_1","",NaN]', "not UTF-8 JSON", id="nan"),
        pytest.param(b'{"id":"fn_1"}', "three strings", id="object"),
        pytest.param(n3(FN, ""), "three strings", id="two-items"),
        pytest.param(n3(FN, "", "", ""), "three strings", id="four-items"),
        pytest.param(n3(FN, "", {"a": 1}), "three strings", id="args-not-a-string"),
        pytest.param(n3(FN, None, ""), "three strings", id="null-hash"),
        pytest.param(n3(FN, SHA.hex()[:-2], ""), "64 lower-case hex", id="hash-31-bytes"),
        pytest.param(n3(FN, SHA.hex() + "00", ""), "64 lower-case hex", id="hash-33-bytes"),
        pytest.param(n3(FN, SHA.hex().upper(), ""), "64 lower-case hex", id="hash-upper-case"),
        pytest.param(n3(FN, "zz" * 32, ""), "64 lower-case hex", id="hash-not-hex"),
        pytest.param(n3(FN, "0x" + SHA.hex()[2:], ""), "64 lower-case hex", id="hash-0x"),
        pytest.param(n3("fn-1", "", ""), "is not a function id", id="bad-id"),
        pytest.param(b"[" * 100_000, "not UTF-8 JSON", id="deep-nesting"),
        pytest.param(b" " * (MAX_PAYLOAD_BYTES + 1), "over", id="oversize"),
    ],
)
def test_n3_payloads_that_are_not_calls(payload: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        decode_n3_payload(payload)


@pytest.mark.parametrize(
    ("text", "value", "error"),
    [
        pytest.param("", None, None, id="empty-is-null"),
        pytest.param("null", None, None, id="null"),
        pytest.param('{"b":[1,true,"x"],"a":{}}', {"b": [1, True, "x"], "a": {}}, None, id="object"),
        pytest.param(str(2**53 - 1), 2**53 - 1, None, id="largest-safe-integer"),
        pytest.param("not json", None, "not JSON", id="not-json"),
        pytest.param("{'a': 1}", None, "not JSON", id="single-quotes"),
        pytest.param('{"a": 1} x', None, "not JSON", id="trailing-text"),
        pytest.param("NaN", None, "NaN is not JSON", id="nan"),
        pytest.param("[Infinity]", None, "Infinity is not JSON", id="infinity"),
        pytest.param("0.5", None, "no canonical JSON form", id="float"),
        pytest.param("1.0", None, "no canonical JSON form", id="integral-float"),
        pytest.param("1e3", None, "no canonical JSON form", id="exponent"),
        pytest.param(str(2**53), None, "outside", id="unsafe-integer"),
        pytest.param("9" * 5000, None, "not JSON", id="integer-of-5000-digits"),
        pytest.param('{"a":1,"a":2}', None, "duplicate key", id="duplicate-key"),
        pytest.param('"\\ud800"', None, "lone surrogate", id="lone-surrogate"),
        pytest.param("[" * 100_000 + "]" * 100_000, None, "", id="deep-nesting"),
        pytest.param(json.dumps("x" * MAX_ARGS_BYTES), None, "over 65536 bytes", id="oversize"),
    ],
)
def test_args_parse_to_canonical_json_or_say_why(text: str, value: Any, error: str | None) -> None:
    parsed, why = parse_args(text)
    assert parsed == value
    if error is None:
        assert why is None
    else:
        assert why is not None
        assert error in why


def test_bad_args_do_not_make_the_payload_undecodable() -> None:
    """The function and consumer are checked first: args are answered ``ArgsInvalid`` later."""
    call = decode_evm_payload(evm(FN, SHA, '{"x": 0.1}'))
    assert (call.function_id, call.args, call.args_text) == (FN, None, '{"x": 0.1}')
    assert call.args_error is not None
    assert decode_n3_payload(n3(FN, "", "nope")).args_error is not None


@pytest.mark.parametrize("source_hash", [SHA, None], ids=["pinned", "any"])
@pytest.mark.parametrize("args", ["", '{"a":[1,"ü"]}'], ids=["no-args", "args"])
def test_payloads_round_trip(source_hash: bytes | None, args: str) -> None:
    evm_call = decode_evm_payload(encode_evm_payload(FN, source_hash, args))
    n3_call = decode_n3_payload(encode_n3_payload(FN, source_hash, args))
    assert evm_call == n3_call
    assert (evm_call.function_id, evm_call.source_sha256, evm_call.args_text) == (FN, source_hash, args)


def test_a_source_hash_is_32_bytes() -> None:
    for encode in (encode_evm_payload, encode_n3_payload):
        with pytest.raises(ValueError, match="32 bytes"):
            encode(FN, SHA[:31], "")
    with pytest.raises(ValueError, match="32 bytes"):
        evm_result(FunctionCode.Success, SHA + b"\x00", b"")


@pytest.mark.parametrize(
    ("code", "source_hash", "data"),
    [
        pytest.param(FunctionCode.Success, SHA, b'{"a":2}', id="success"),
        pytest.param(FunctionCode.Failed, SHA, b"TypeError: nope", id="failed"),
        pytest.param(FunctionCode.SourceMismatch, None, b"SourceMismatch: x", id="nothing-ran"),
        pytest.param(FunctionCode.ResultTooLarge, SHA, b"", id="empty-data"),
    ],
)
def test_results_round_trip(code: FunctionCode, source_hash: bytes | None, data: bytes) -> None:
    hash_bytes = source_hash or bytes(32)
    evm_bytes = evm_result(code, source_hash, data)
    assert evm_bytes == abi_encode(["uint8", "bytes32", "bytes"], [int(code), hash_bytes, data])
    assert decode_evm_result(evm_bytes) == (code, hash_bytes, data)
    n3_bytes = n3_result(code, source_hash, data)
    assert n3_bytes == bytes([int(code)]) + hash_bytes + data
    assert decode_n3_result(n3_bytes) == (code, hash_bytes, data)


def test_a_short_n3_result_does_not_decode() -> None:
    with pytest.raises(ValueError, match="32-byte source hash"):
        decode_n3_result(bytes(32))


@pytest.mark.parametrize(
    ("result", "code", "data"),
    [
        pytest.param('{"p":1}', FunctionCode.Success, b'{"p":1}', id="small"),
        pytest.param('"' + "ü" * 511 + '"', FunctionCode.Success, None, id="exactly-1024-bytes"),
        pytest.param('"' + "x" * MAX_ONCHAIN_DATA_BYTES + '"', FunctionCode.ResultTooLarge, b"", id="1026"),
    ],
)
def test_a_success_over_the_onchain_cap_is_result_too_large(
    result: str, code: FunctionCode, data: bytes | None
) -> None:
    got_code, got_data = success_data(result)
    assert got_code is code
    assert got_data == (result.encode() if data is None else data)
    assert len(got_data) <= MAX_ONCHAIN_DATA_BYTES


@pytest.mark.parametrize(
    ("name", "message", "expected"),
    [
        pytest.param("TypeError", "nope", b"TypeError: nope", id="short"),
        pytest.param("Error", "x" * 300, ("Error: " + "x" * 300).encode()[:256], id="cut-at-256"),
        pytest.param("Error", "é" * 200, ("Error: " + "é" * 124).encode(), id="cut-on-a-character"),
        pytest.param("Error", "\ud800", b"Error: ?", id="lone-surrogate-replaced"),
    ],
)
def test_error_data_is_short_utf8(name: str, message: str, expected: bytes) -> None:
    data = error_data(name, message)
    assert data == expected
    assert len(data) <= MAX_ERROR_DATA_BYTES
    data.decode("utf-8")


@pytest.mark.parametrize(
    ("chain", "contract", "key"),
    [
        pytest.param(
            "evm:31337",
            "0x5FbDB2315678afecb367f032d93F642f64180aa3",
            "evm:31337:0x5fbdb2315678afecb367f032d93f642f64180aa3",
            id="evm-checksummed",
        ),
        pytest.param("evm:1", "ab" * 20, "evm:1:0x" + "ab" * 20, id="evm-without-0x"),
        pytest.param("n3:56753", "0x" + "12" * 20, "n3:56753:0x" + "12" * 20, id="n3"),
        pytest.param("n3:0", "0x" + "AB" * 20, "n3:0:0x" + "ab" * 20, id="n3-magic-0-upper"),
    ],
)
def test_consumer_keys_are_normalised(chain: str, contract: str, key: str) -> None:
    assert consumer_key(chain, contract) == key


@pytest.mark.parametrize(
    ("chain", "contract"),
    [
        pytest.param("eth:1", "0x" + "ab" * 20, id="unknown-kind"),
        pytest.param("evm", "0x" + "ab" * 20, id="no-number"),
        pytest.param("evm:0", "0x" + "ab" * 20, id="chain-id-0"),
        pytest.param("evm:031337", "0x" + "ab" * 20, id="leading-zero"),
        pytest.param("evm:-1", "0x" + "ab" * 20, id="negative"),
        pytest.param("evm:\u0661", "0x" + "ab" * 20, id="non-ascii-digit"),
        pytest.param(f"evm:{2**53}", "0x" + "ab" * 20, id="chain-id-too-large"),
        pytest.param(f"n3:{2**32}", "0x" + "ab" * 20, id="magic-too-large"),
        pytest.param("evm:1", "0x" + "ab" * 19, id="short-address"),
        pytest.param("evm:1", "0x" + "zz" * 20, id="not-hex"),
        pytest.param("n3:1", "NXV7ZhHiyM1aHXwpVsRZC6BwNFP2jghXAq", id="n3-address-form"),
        pytest.param("evm:1", "0x" + "ab" * 20 + "\n", id="trailing-newline"),
    ],
)
def test_bad_consumers_are_refused(chain: str, contract: str) -> None:
    with pytest.raises(ValueError, match=r"is not|out of range"):
        consumer_key(chain, contract)

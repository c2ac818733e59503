"""Framing, envelope parsing and error codes of the enclave protocol (docs/enclave.md §1)."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest

from neo_service_layer.enclave.protocol import (
    MAX_FRAME_BYTES,
    MAX_REQUEST_ID,
    BadFrame,
    ErrorCode,
    InvalidRequest,
    Response,
    UnsupportedVersion,
    decode_message,
    encode_frame,
    error_response,
    ok_response,
    parse_request,
    read_frame,
    request_id_of,
)


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def test_frame_round_trip() -> None:
    message = {"v": 1, "id": 7, "op": "ping", "args": {"é": "€"}}
    frame = encode_frame(message)
    assert struct.unpack(">I", frame[:4])[0] == len(frame) - 4
    reader = _reader(frame + frame)
    assert decode_message(await read_frame(reader) or b"") == message
    assert decode_message(await read_frame(reader) or b"") == message
    assert await read_frame(reader) is None  # clean end of stream between frames


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b"\x00\x00", "header", id="truncated-header"),
        pytest.param(b"\x00\x00\x00\x00", "outside", id="zero-length"),
        pytest.param(struct.pack(">I", MAX_FRAME_BYTES + 1), "outside", id="over-8MiB"),
        pytest.param(b"\xff\xff\xff\xff", "outside", id="huge-length-prefix"),
        pytest.param(struct.pack(">I", 10) + b"{}", "short", id="truncated-body"),
    ],
)
async def test_broken_frames_raise_bad_frame(data: bytes, reason: str) -> None:
    with pytest.raises(BadFrame, match=reason):
        await read_frame(_reader(data))


def test_encoding_refuses_oversized_messages() -> None:
    with pytest.raises(BadFrame, match="frame limit"):
        encode_frame({"blob": "x" * MAX_FRAME_BYTES})


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\xff\xfe", id="not-utf8"),
        pytest.param(b"{", id="not-json"),
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b'"text"', id="string"),
        pytest.param(b"null", id="null"),
        pytest.param(b'{"a": 1, "a": 2}', id="duplicate-key"),
        pytest.param(b'{"a": NaN}', id="nan"),
        pytest.param(b'{"a": Infinity}', id="infinity"),
        pytest.param(b'{"a": ' + b"9" * 5000 + b"}", id="integer-too-long"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-too-deep"),
    ],
)
def test_payloads_that_are_not_json_objects_are_bad_frames(payload: bytes) -> None:
    with pytest.raises(BadFrame) as caught:
        decode_message(payload)
    assert caught.value.code == ErrorCode.BAD_FRAME


@pytest.mark.parametrize(
    ("message", "error", "request_id"),
    [
        pytest.param({"v": 2, "id": 1, "op": "ping", "args": {}}, UnsupportedVersion, 1, id="version-2"),
        pytest.param({"id": 1, "op": "ping", "args": {}}, UnsupportedVersion, 1, id="no-version"),
        pytest.param(
            {"v": True, "id": 1, "op": "ping", "args": {}}, UnsupportedVersion, 1, id="version-true"
        ),
        pytest.param({"v": 1, "op": "ping", "args": {}}, InvalidRequest, None, id="no-id"),
        pytest.param({"v": 1, "id": -1, "op": "ping", "args": {}}, InvalidRequest, None, id="negative-id"),
        pytest.param(
            {"v": 1, "id": 2**53 + 1, "op": "x", "args": {}}, InvalidRequest, None, id="id-over-2^53"
        ),
        pytest.param({"v": 1, "id": "1", "op": "ping", "args": {}}, InvalidRequest, None, id="string-id"),
        pytest.param({"v": 1, "id": True, "op": "ping", "args": {}}, InvalidRequest, None, id="bool-id"),
        pytest.param({"v": 1, "id": 3, "op": "Ping!", "args": {}}, InvalidRequest, 3, id="bad-op-name"),
        pytest.param({"v": 1, "id": 3, "op": "ping"}, InvalidRequest, 3, id="no-args"),
        pytest.param({"v": 1, "id": 3, "op": "ping", "args": []}, InvalidRequest, 3, id="args-not-object"),
        pytest.param(
            {"v": 1, "id": 3, "op": "ping", "args": {}, "x": 1}, InvalidRequest, 3, id="extra-field"
        ),
    ],
)
def test_invalid_envelopes(message: dict[str, Any], error: type[Exception], request_id: int | None) -> None:
    with pytest.raises(error):
        parse_request(message)
    assert request_id_of(message) == request_id


def test_valid_envelope() -> None:
    request = parse_request({"v": 1, "id": MAX_REQUEST_ID, "op": "keys.sign", "args": {"a": 1}})
    assert (request.id, request.op, request.args) == (MAX_REQUEST_ID, "keys.sign", {"a": 1})


def test_invalid_request_detail_names_fields_not_values() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_request({"v": 1, "id": "top-secret-value", "op": "ping", "args": {}})
    assert "id" in caught.value.detail
    assert "top-secret-value" not in caught.value.detail


def test_responses_validate_both_shapes() -> None:
    ok = Response.model_validate(ok_response(5, {"x": 1}))
    assert ok.ok
    assert ok.result == {"x": 1}
    failed = Response.model_validate(error_response(None, BadFrame("boom")))
    assert failed.error is not None
    assert failed.error.code == "bad_frame"
    assert failed.id is None
    with pytest.raises(ValueError, match="exactly one"):
        Response.model_validate({"v": 1, "id": 1, "ok": True, "error": {"code": "x", "detail": "y"}})


def test_error_codes_are_stable() -> None:
    # Clients switch on these strings: renaming one is a breaking change (docs/enclave.md §1).
    assert {code.value for code in ErrorCode} == {
        "bad_frame",
        "invalid_request",
        "unsupported_version",
        "unknown_op",
        "invalid_args",
        "unseal_failed",
        "key_unusable",
        "crypto_error",
        "precondition_failed",
        "capability_unavailable",
        "shutting_down",
        "busy",
        "internal",
    }

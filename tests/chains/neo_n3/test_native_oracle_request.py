"""Parsing the native OracleContract's stored request (``native_oracle.decode_request``): the binary stack
item of neo-go ``state.OracleRequest.ToStackItem`` (``pkg/core/state/oracle.go``; the format is
``stackitem.Serialize``: Array 0x40, ByteString 0x28, Integer 0x21, Null 0x00). Real stored requests
are read in test_native_oracle.py."""

from __future__ import annotations

import pytest

from neo_service_layer.chains.neo_n3.native_oracle import MalformedRequest, decode_request


def _bytes(data: bytes) -> bytes:
    return b"\x28" + bytes([len(data)]) + data


def _request(filter_item: bytes = _bytes(b"$.a"), gas: bytes = b"\x21\x04\x80\x96\x98\x00") -> bytes:
    items = [
        _bytes(bytes(range(32))),
        gas,  # 10_000_000 little-endian two's complement
        _bytes(b"https://example.test/x"),
        filter_item,
        _bytes(bytes(range(20))),
        _bytes(b"callback"),
        _bytes(b"\x28\x01k"),
    ]
    return b"\x40\x07" + b"".join(items)


def test_decodes_a_stored_request() -> None:
    request = decode_request(9, _request())
    assert request.id == 9
    assert request.gas_for_response == 10_000_000
    assert (request.url, request.filter, request.callback_method) == (
        "https://example.test/x",
        "$.a",
        "callback",
    )
    # The display forms (what RPC calls take): the stored bytes reversed.
    assert request.original_tx == "0x" + bytes(range(32))[::-1].hex()
    assert request.callback_contract == "0x" + bytes(range(20))[::-1].hex()
    assert request.user_data == b"\x28\x01k"


def test_a_null_filter_is_none() -> None:
    assert decode_request(1, _request(filter_item=b"\x00")).filter is None


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(b"", id="empty"),
        pytest.param(_request()[:-1], id="truncated"),
        pytest.param(_request() + b"\x00", id="trailing"),
        pytest.param(b"\x40\x01\x00", id="short-array"),
        pytest.param(_request(gas=_bytes(b"x")), id="gas-not-an-integer"),
        pytest.param(_request(gas=b"\x21\x01\xff"), id="gas-negative"),
        pytest.param(_request(filter_item=b"\x21\x01\x01"), id="filter-an-integer"),
        pytest.param(_request(filter_item=b"\x60\x00"), id="unknown-type"),
        pytest.param(_request(filter_item=_bytes(b"\xff")), id="filter-not-utf8"),
    ],
)
def test_refuses_what_is_not_a_request(value: bytes) -> None:
    with pytest.raises(MalformedRequest):
        decode_request(1, value)

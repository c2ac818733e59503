"""Decoding the gateway's ``Request`` notification (contracts/nsl_gateway.py) from the node's JSON:
well-formed ones round-trip through a job payload, malformed ones are refused with InvalidN3Message."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from neo_service_layer.chains.neo_n3.errors import InvalidN3Message
from neo_service_layer.chains.neo_n3.requests import N3Request, decode_request

GATEWAY = "0x" + "ab" * 20
CALLBACK_LE = bytes(range(20))
TX = "0x" + "cd" * 32


def _b(data: bytes) -> dict[str, Any]:
    return {"type": "ByteString", "value": base64.b64encode(data).decode()}


def _i(value: int) -> dict[str, Any]:
    return {"type": "Integer", "value": str(value)}


def notification(**changes: Any) -> dict[str, Any]:
    items = [
        _i(7),
        _b(b"randomness"),
        _b(b"seed"),
        _b(CALLBACK_LE),
        _b(b"on_randomness"),
        _i(0),
        {"type": "Boolean", "value": True},
    ]
    for index, item in changes.pop("items", {}).items():
        items[index] = item
    return {"contract": GATEWAY, "eventname": "Request", "state": {"type": "Array", "value": items}} | changes


def decode(n: dict[str, Any]) -> N3Request:
    return decode_request(56753, n, block_index=12, tx_hash=TX, notification_index=3)


def test_a_request_is_decoded_and_round_trips_through_a_job_payload() -> None:
    request = decode(notification())

    assert (request.request_id, request.service, request.payload, request.verify_on_chain) == (
        7,
        "randomness",
        b"seed",
        True,
    )
    assert request.callback_contract == "0x" + CALLBACK_LE[::-1].hex()  # display form: reversed
    assert request.idempotency_key == f"n3:56753:{TX}:3"
    assert request.fulfilment_key == f"{'ab' * 20}:7"
    assert N3Request.from_payload(request.to_payload()) == request


@pytest.mark.parametrize(
    "changes",
    [
        {"eventname": "Fulfilled"},
        {"contract": "0x1234"},
        {"state": {"type": "Array", "value": [_i(7)]}},
        {"state": {"type": "Struct", "value": []}},
        {"state": None},
        {"items": {0: _b(b"\x07")}},
        {"items": {0: _i(0)}},
        {"items": {0: _i(2**64)}},
        {"items": {1: _i(1)}},
        {"items": {1: _b(b"\xff\xfe")}},
        {"items": {2: {"type": "ByteString", "value": "not base64!"}}},
        {"items": {3: _b(b"\x01" * 19)}},
        {"items": {3: _b(b"\x01" * 21)}},
        {"items": {5: _i(-1)}},
        {"items": {6: _b(b"\x01")}},
        {"items": {6: _i(2)}},
    ],
    ids=[
        "other-event",
        "bad-contract-hash",
        "too-few-fields",
        "not-an-array",
        "no-state",
        "id-not-integer",
        "id-zero",
        "id-above-u64",
        "service-not-bytes",
        "service-not-utf8",
        "payload-not-base64",
        "callback-19-bytes",
        "callback-21-bytes",
        "negative-gas",
        "verify-not-bool",
        "verify-integer-2",
    ],
)
def test_malformed_notifications_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidN3Message):
        decode(notification(**changes))


def test_a_verify_flag_handed_over_as_integer_is_accepted() -> None:
    assert decode(notification(items={6: _i(0)})).verify_on_chain is False


@pytest.mark.parametrize(
    "changes",
    [{"chain": "evm:1"}, {"verify_on_chain": "yes"}, {"gateway": "ab" * 20}, {"tx_hash": "0x12"}],
    ids=["other-family", "verify-not-bool", "gateway-without-0x", "short-tx-hash"],
)
def test_malformed_job_payloads_are_refused(changes: dict[str, Any]) -> None:
    payload = decode(notification()).to_payload() | changes
    with pytest.raises(InvalidN3Message):
        N3Request.from_payload(payload)

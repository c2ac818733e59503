"""The N3 message formats in Python (pure): layout, sizes, and agreement with the DY-VRF test vectors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from neo_service_layer.chains.neo_n3 import messages
from neo_service_layer.chains.neo_n3.errors import InvalidN3Message
from neo_service_layer.enclave.crypto import dyvrf

VECTORS = json.loads((Path(__file__).parents[2] / "testdata" / "dyvrf_vectors.json").read_text())
GATEWAY = bytes(range(20))


FIELDS: dict[str, Any] = {"payload_hash": b"\x11" * 32, "vrf_key_version": 258, "vrf_key_hash": b"\x22" * 32}


def test_fulfilment_message_layout() -> None:
    msg = messages.fulfilment_message(56753, GATEWAY, 7, result=b"abc", **FIELDS)
    assert len(msg) == 148
    assert msg == (
        b"NSL-N3-FULFIL-V2"
        + bytes.fromhex("b1dd0000")  # 56753 little-endian
        + GATEWAY
        + bytes.fromhex("0700000000000000")
        + b"\x11" * 32  # SHA-256(payload), as stored
        + bytes.fromhex("02010000")  # key version 258 little-endian
        + b"\x22" * 32  # SHA-256(VRF key of that version)
        + bytes.fromhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")  # SHA-256("abc")
    )


def test_alpha_and_result_match_dyvrf() -> None:
    secret = dyvrf.generate_secret()
    alpha = messages.randomness_alpha(1, GATEWAY, 2, b"seed")
    assert (
        alpha
        == b"NSL-N3-DYVRF-ALPHA-V1"
        + bytes.fromhex("01000000")
        + GATEWAY
        + bytes.fromhex("0200000000000000")
        + hashlib.sha256(b"seed").digest()
    )
    result = messages.randomness_result(dyvrf.prove(secret, alpha), alpha)
    parts = messages.split_randomness_result(result)
    assert parts.beta == dyvrf.verify(dyvrf.public_key(secret), alpha, parts.pi)
    assert parts.x_le == dyvrf.neo_scalar_le(dyvrf.alpha_to_scalar(alpha))


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=[v["id"] for v in VECTORS["vectors"]])
def test_result_encoding_of_the_vectors(vector: dict[str, str]) -> None:
    alpha, pi = bytes.fromhex(vector["alpha"]), bytes.fromhex(vector["pi"])
    beta, pi_out, x_le = messages.split_randomness_result(messages.randomness_result(pi, alpha))
    assert (beta.hex(), pi_out, x_le.hex()) == (vector["beta"], pi, vector["x_le"])


@pytest.mark.parametrize(
    ("magic", "gateway", "request_id", "fields"),
    [
        (2**32, GATEWAY, 1, FIELDS),
        (1, GATEWAY, 2**64, FIELDS),
        (1, GATEWAY[:19], 1, FIELDS),
        (1, GATEWAY, 1, FIELDS | {"payload_hash": bytes(31)}),
        (1, GATEWAY, 1, FIELDS | {"vrf_key_version": 2**32}),
        (1, GATEWAY, 1, FIELDS | {"vrf_key_hash": bytes(33)}),
    ],
    ids=["magic-2^32", "id-2^64", "short-gateway", "short-payload-hash", "version-2^32", "long-key-hash"],
)
def test_bad_message_fields(magic: int, gateway: bytes, request_id: int, fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidN3Message):
        messages.fulfilment_message(magic, gateway, request_id, result=b"", **fields)


def test_bad_inputs() -> None:
    with pytest.raises(InvalidN3Message):
        messages.randomness_result(bytes(95), b"alpha")
    with pytest.raises(InvalidN3Message):
        messages.split_randomness_result(bytes(159))

"""HMAC-SHA256 against RFC 4231 §4 (test cases 1-4, 6, 7 from cryptography-vectors ``rfc-4231-sha256.txt``;
test case 5 is the truncated-output case, which we do not offer)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neo_service_layer.enclave.crypto import keys, mac
from neo_service_layer.enclave.crypto.errors import InvalidKeyMaterial
from neo_service_layer.enclave.crypto.keytypes import KeyType
from tests.enclave.crypto.vectors import CavpRecord, load_cavp

RFC4231_CASE_NUMBERS = [1, 2, 3, 4, 6, 7]
RFC4231 = load_cavp("HMAC/rfc-4231-sha256.txt")


def test_vector_count() -> None:
    assert len(RFC4231) == len(RFC4231_CASE_NUMBERS)


@pytest.mark.parametrize(
    "record", RFC4231, ids=[f"RFC4231-4.{n + 1}-test-case-{n}" for n in RFC4231_CASE_NUMBERS]
)
def test_rfc4231(record: CavpRecord) -> None:
    key, message, expected = record.hex("Key"), record.hex("Msg"), record.hex("MD")
    assert mac.hmac_sha256(key, message) == expected
    assert mac.hmac_verify(key, message, expected)
    assert not mac.hmac_verify(key, message + b"\x00", expected)
    assert not mac.hmac_verify(key, message, expected[:16])  # RFC 4231 §4.6 truncation: refused
    assert not mac.hmac_verify(key, message, expected[:-1] + bytes([expected[-1] ^ 1]))


def test_empty_key_is_refused() -> None:
    with pytest.raises(InvalidKeyMaterial):
        mac.hmac_sha256(b"", b"m")
    with pytest.raises(InvalidKeyMaterial):
        mac.hmac_verify(b"", b"m", b"\x00" * 32)


def test_stored_keys_are_32_bytes() -> None:
    key = keys.generate(KeyType.HMAC_SHA256)
    keys.validate_material(KeyType.HMAC_SHA256, key)
    with pytest.raises(InvalidKeyMaterial):
        keys.validate_material(KeyType.HMAC_SHA256, b"Jefe")  # valid for HMAC, not for our key type
    assert len(mac.hmac_sha256(key, b"")) == 32


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=1, max_size=100), message=st.binary(max_size=300), bit=st.integers(0, 255))
def test_verify_property(key: bytes, message: bytes, bit: int) -> None:
    tag = mac.hmac_sha256(key, message)
    assert mac.hmac_verify(key, message, tag)
    tampered = bytearray(tag)
    tampered[bit // 8] ^= 1 << (bit % 8)
    assert not mac.hmac_verify(key, message, bytes(tampered))

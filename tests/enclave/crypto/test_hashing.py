"""Digests: FIPS 180-4 "abc" examples, Ethereum Keccak-256 (not SHA3-256), the truncated ECDSA input."""

from __future__ import annotations

import hashlib

import pytest

from neo_service_layer.enclave.crypto.errors import InvalidInput
from neo_service_layer.enclave.crypto.hashing import digest, ecdsa_digest, keccak256
from neo_service_layer.enclave.crypto.keytypes import HashAlgorithm

H = HashAlgorithm


@pytest.mark.parametrize(
    ("hash_alg", "data", "expected_hex_prefix"),
    [
        pytest.param(H.SHA256, b"abc", "ba7816bf8f01cfea414140de5dae2223", id="FIPS180-4-SHA256-abc"),
        pytest.param(H.SHA384, b"abc", "cb00753f45a35e8bb5a03d699ac65007", id="FIPS180-4-SHA384-abc"),
        pytest.param(H.SHA512, b"abc", "ddaf35a193617abacc417349ae204131", id="FIPS180-4-SHA512-abc"),
        # Keccak-256 of the empty string: Ethereum's well-known empty hash (KECCAK_EMPTY).
        pytest.param(H.KECCAK256, b"", "c5d2460186f7233c927e7db2dcc703c0", id="keccak256-empty"),
        pytest.param(H.NONE, b"\x01\x02", "0102", id="none-is-identity"),
    ],
)
def test_digest(hash_alg: HashAlgorithm, data: bytes, expected_hex_prefix: str) -> None:
    assert digest(hash_alg, data).hex().startswith(expected_hex_prefix)


def test_keccak_is_not_sha3() -> None:
    assert keccak256(b"") != hashlib.sha3_256(b"").digest()
    assert len(keccak256(b"x")) == 32


@pytest.mark.parametrize("hash_alg", [H.SHA384, H.SHA512], ids=str)
def test_ecdsa_digest_truncates_to_leftmost_256_bits(hash_alg: HashAlgorithm) -> None:
    # SEC 1 v2 §4.1.3 step 5: leftmost ceil(log2 n) bits.
    full = digest(hash_alg, b"m")
    assert ecdsa_digest(hash_alg, b"m") == full[:32]


def test_ecdsa_digest_none_requires_32_bytes() -> None:
    assert ecdsa_digest(H.NONE, b"\x05" * 32) == b"\x05" * 32
    with pytest.raises(InvalidInput, match="32-byte digest"):
        ecdsa_digest(H.NONE, b"\x05" * 48)

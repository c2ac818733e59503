"""Request checks below HTTP: each rule has its typed error and stable code (docs/randomness.md §5)."""

from __future__ import annotations

from typing import Any

import pytest

from neo_service_layer.enclave.crypto.randomness import OutputKind, OutputSpec
from neo_service_layer.enclave.crypto.vrf import Scheme
from neo_service_layer.errors import NSLError
from neo_service_layer.services.randomness.params import RandomnessParams, parse_request


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, RandomnessParams(Scheme.ECVRF_EDWARDS25519_SHA512_TAI, b"", OutputSpec(OutputKind.WORDS, 1))),
        (
            {"scheme": "dyvrf-bls12381", "seed": "0xABcd", "words": 3, "minimum": "-2", "maximum": 9},
            RandomnessParams(Scheme.DYVRF_BLS12381, b"\xab\xcd", OutputSpec(OutputKind.WORDS, 3, -2, 9)),
        ),
        (
            {"data_bytes": 1024, "key_id": "key_01X", "seed": ""},
            RandomnessParams(
                Scheme.ECVRF_EDWARDS25519_SHA512_TAI, b"", OutputSpec(OutputKind.BYTES, 1024), "key_01X"
            ),
        ),
    ],
    ids=["defaults", "ranged", "bytes"],
)
def test_valid_requests(kwargs: dict[str, Any], expected: RandomnessParams) -> None:
    assert parse_request(**kwargs) == expected


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"scheme": "vrf"}, "randomness_unknown_scheme"),
        ({"words": 1, "data_bytes": 1}, "randomness_output_conflict"),
        ({"words": 501}, "randomness_words_out_of_range"),
        ({"data_bytes": 2000}, "randomness_bytes_out_of_range"),
        ({"data_bytes": 2, "minimum": 1, "maximum": 2}, "randomness_range_with_bytes"),
        ({"maximum": 2}, "randomness_range_incomplete"),
        ({"minimum": 3, "maximum": 2}, "randomness_min_above_max"),
        ({"minimum": "0x10", "maximum": 20}, "randomness_range_out_of_bounds"),
        ({"minimum": -(2**255) - 1, "maximum": 0}, "randomness_range_out_of_bounds"),
        ({"seed": "00" * 257}, "randomness_seed_too_long"),
        ({"seed": "0g"}, "randomness_seed_not_hex"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_invalid_requests(kwargs: dict[str, Any], code: str) -> None:
    with pytest.raises(NSLError) as caught:
        parse_request(**kwargs)
    assert (caught.value.code, caught.value.status) == (code, 422)

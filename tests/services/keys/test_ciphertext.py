"""``nsl:v<version>:<base64>`` strings: round trip, and one accepted form per value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from neo_service_layer.services.keys import ciphertext
from neo_service_layer.services.keys.errors import InvalidCiphertext, InvalidHmac


@given(version=st.integers(1, 2**31 - 1), data=st.binary(max_size=200))
def test_round_trip(version: int, data: bytes) -> None:
    text = ciphertext.encode(version, data)
    assert text.startswith(f"nsl:v{version}:")
    assert ciphertext.decode(text) == (version, data)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nsl:v1",
        "nsl:1:AAAA",
        "vault:v1:AAAA",
        "NSL:v1:AAAA",
        "nsl:v01:AAAA",
        "nsl:v0:AAAA",
        "nsl:v-1:AAAA",
        "nsl:v2147483648:AAAA",
        "nsl:v1:AAA",
        "nsl:v1:AAB=",
        "nsl:v1:AA-_",
        "nsl:v1:AAAA\n",
        " nsl:v1:AAAA",
        "nsl:v1:AAAA:AAAA",
    ],
    ids=[
        "empty",
        "no-data",
        "no-v",
        "vault",
        "upper",
        "leading-zero",
        "zero",
        "negative",
        "overflow",
        "unpadded",
        "padding-bits",
        "urlsafe",
        "newline",
        "space",
        "extra-part",
    ],
)
def test_malformed_strings_are_refused(text: str) -> None:
    with pytest.raises(InvalidCiphertext):
        ciphertext.decode(text)
    with pytest.raises(InvalidHmac):
        ciphertext.decode(text, InvalidHmac)


@pytest.mark.parametrize("version", [0, -1, 2**31])
def test_encode_refuses_bad_versions(version: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        ciphertext.encode(version, b"x")

"""The randomness request as the caller gives it, checked into typed parameters with stable error codes.

Every check of a request happens here (testable without HTTP), each failure a typed 422 of
``neo_service_layer.errors`` (``randomness_*`` codes, docs/randomness.md §5); the output spec's own
rules (counts, range bounds, min ≤ max) are those of ``enclave.crypto.randomness.OutputSpec``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from neo_service_layer.enclave.crypto.randomness import OutputKind, OutputSpec, check_seed
from neo_service_layer.enclave.crypto.vrf import DEFAULT_SCHEME, Scheme
from neo_service_layer.errors import RandomnessRangeOutOfBounds
from neo_service_layer.services.randomness.errors import (
    RandomnessOutputConflict,
    RandomnessSeedNotHex,
    RandomnessUnknownScheme,
)

DEFAULT_WORDS: Final = 1
# A decimal integer as a string (clients whose JSON numbers are doubles send int256 bounds this way).
_DECIMAL = re.compile(r"-?[0-9]{1,80}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


@dataclass(frozen=True, slots=True)
class RandomnessParams:
    """A checked request: scheme, caller seed, output spec, and the key (``None``: the default key)."""

    scheme: Scheme
    seed: bytes
    spec: OutputSpec
    key_id: str | None = None


def parse_scheme(value: str) -> Scheme:
    """The scheme named ``value``; :class:`RandomnessUnknownScheme` otherwise."""
    try:
        return Scheme(value)
    except ValueError:
        known = ", ".join(s.value for s in Scheme)
        raise RandomnessUnknownScheme(
            f"unknown scheme {value[:64]!r}; use one of {known}", supported=[s.value for s in Scheme]
        ) from None


def parse_seed(value: str | None) -> bytes:
    """The caller seed from hex (optional ``0x``; absent: empty); not hex or over 256 bytes is a 422."""
    if value is None:
        return b""
    text = value.removeprefix("0x")
    if not _HEX.fullmatch(text):
        raise RandomnessSeedNotHex("seed must be hex: an even number of digits, optional 0x")
    seed = bytes.fromhex(text)
    check_seed(seed)
    return seed


def parse_bound(value: int | str | None, name: str) -> int | None:
    """An integer bound given as a JSON integer or a decimal string (range checked by the spec)."""
    if value is None or isinstance(value, int):
        return value
    if not _DECIMAL.fullmatch(value):
        raise RandomnessRangeOutOfBounds(f"{name} must be an integer or a decimal string", parameter=name)
    return int(value)


def parse_request(
    *,
    scheme: str = DEFAULT_SCHEME.value,
    seed: str | None = None,
    key_id: str | None = None,
    words: int | None = None,
    data_bytes: int | None = None,
    minimum: int | str | None = None,
    maximum: int | str | None = None,
) -> RandomnessParams:
    """Check a request (docs/randomness.md §5): the first problem found raises its typed error."""
    checked_scheme = parse_scheme(scheme)
    if words is not None and data_bytes is not None:
        raise RandomnessOutputConflict("give words or bytes, not both")
    low, high = parse_bound(minimum, "min"), parse_bound(maximum, "max")
    if data_bytes is not None:
        spec = OutputSpec(OutputKind.BYTES, data_bytes, low, high)
    else:
        spec = OutputSpec(OutputKind.WORDS, DEFAULT_WORDS if words is None else words, low, high)
    return RandomnessParams(checked_scheme, parse_seed(seed), spec, key_id)

"""The randomness service's VRF input (alpha) and output derivation, implemented once.

Pure functions of bytes and integers, imported by the enclave op (``handlers/randomness.py``), the
service and the Python client (``client/randomness.py``), so the three can never disagree. The
byte-exact description, with worked examples, is ``docs/randomness.md``; in short::

    field(b)  = uint32be(len(b)) ‖ b
    alpha     = "NSL-RANDOMNESS-V1" ‖ field(scheme) ‖ field(account_id) ‖ field(request_id)
                ‖ field(key_id) ‖ field(uint32be(key_version)) ‖ field(seed) ‖ field(nonce)
                ‖ field(kind) ‖ field(uint32be(count)) ‖ field(int256be(min)) ‖ field(int256be(max))

strings UTF-8, ``kind`` ``"words"`` or ``"bytes"``, ``int256be`` 32-byte big-endian two's complement
and an empty field when there is no range. From the VRF output β::

    block(label, i) = SHA-256(β ‖ label ‖ uint32be(i))                  (counter mode, i = 0, 1, ...)
    words           : word_i = uint256be(block("word", i)), i = 0..n-1   (Chainlink-style expansion)
    bytes           : the first n bytes of block("bytes", 0) ‖ block("bytes", 1) ‖ ...
    range [min,max] : span = max - min + 1, bits = bitlen(span - 1), k = ceil(bits / 8);
                      take k bytes of the "range" stream, v = uint(k bytes) & (2^bits - 1),
                      reject v ≥ span and take the next k bytes; value = min + v     (span 1: min)

Masking to the next power of two keeps each candidate uniform on ``[0, 2^bits)`` and accepts with
probability ``span / 2^bits > 1/2``, so the accepted values are exactly uniform on ``[0, span)``
(rejection sampling, as ``secrets.randbelow`` / Go ``rand.Int``; no modulo bias).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from neo_service_layer.errors import (
    RandomnessBytesOutOfRange,
    RandomnessMinAboveMax,
    RandomnessRangeIncomplete,
    RandomnessRangeOutOfBounds,
    RandomnessRangeWithBytes,
    RandomnessSeedTooLong,
    RandomnessWordsOutOfRange,
)

ALPHA_DOMAIN: Final = b"NSL-RANDOMNESS-V1"
MAX_WORDS: Final = 500
MAX_BYTES: Final = 1024
MAX_SEED_BYTES: Final = 256
NONCE_SIZE: Final = 32
INT256_MIN: Final = -(2**255)
INT256_MAX: Final = 2**255 - 1
WORD_LABEL: Final = b"word"
BYTES_LABEL: Final = b"bytes"
RANGE_LABEL: Final = b"range"
_U32 = struct.Struct(">I")


class OutputKind(StrEnum):
    """What a request asks for (stable wire names; part of alpha)."""

    WORDS = "words"
    BYTES = "bytes"


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """``count`` words (optionally integers in ``[minimum, maximum]``) or ``count`` bytes; checked here."""

    kind: OutputKind
    count: int
    minimum: int | None = None
    maximum: int | None = None

    def __post_init__(self) -> None:
        if self.kind is OutputKind.WORDS and not 1 <= self.count <= MAX_WORDS:
            raise RandomnessWordsOutOfRange(f"words must be within 1..{MAX_WORDS}, got {self.count}")
        if self.kind is OutputKind.BYTES and not 1 <= self.count <= MAX_BYTES:
            raise RandomnessBytesOutOfRange(f"bytes must be within 1..{MAX_BYTES}, got {self.count}")
        ranged = (self.minimum is not None, self.maximum is not None)
        if any(ranged) and self.kind is OutputKind.BYTES:
            raise RandomnessRangeWithBytes("min and max apply to words only, not to bytes")
        if ranged[0] != ranged[1]:
            raise RandomnessRangeIncomplete("give both min and max, or neither")
        if self.minimum is None or self.maximum is None:
            return
        for name, value in (("min", self.minimum), ("max", self.maximum)):
            if not INT256_MIN <= value <= INT256_MAX:
                raise RandomnessRangeOutOfBounds(f"{name} must be within -2^255 .. 2^255 - 1", parameter=name)
        if self.minimum > self.maximum:
            raise RandomnessMinAboveMax("min must not be greater than max")


@dataclass(frozen=True, slots=True)
class AlphaInput:
    """Everything alpha binds: the scheme, who asked, which request and key, both seeds, the output."""

    scheme: str
    account_id: str
    request_id: str
    key_id: str
    key_version: int
    seed: bytes
    nonce: bytes
    spec: OutputSpec


def _field(value: bytes) -> bytes:
    return _U32.pack(len(value)) + value


def _int256(value: int | None) -> bytes:
    return b"" if value is None else value.to_bytes(32, "big", signed=True)


def check_seed(seed: bytes) -> None:
    """Raise :class:`RandomnessSeedTooLong` for a caller seed over :data:`MAX_SEED_BYTES`."""
    if len(seed) > MAX_SEED_BYTES:
        raise RandomnessSeedTooLong(f"seed must be at most {MAX_SEED_BYTES} bytes, got {len(seed)}")


def alpha(data: AlphaInput) -> bytes:
    """The VRF input of a request (module docs; docs/randomness.md §2)."""
    check_seed(data.seed)
    spec = data.spec
    fields = (
        data.scheme.encode(),
        data.account_id.encode(),
        data.request_id.encode(),
        data.key_id.encode(),
        _U32.pack(data.key_version),
        data.seed,
        data.nonce,
        spec.kind.value.encode(),
        _U32.pack(spec.count),
        _int256(spec.minimum),
        _int256(spec.maximum),
    )
    return ALPHA_DOMAIN + b"".join(_field(f) for f in fields)


def blocks(beta: bytes, label: bytes) -> Iterator[bytes]:
    """``SHA-256(β ‖ label ‖ uint32be(i))`` for i = 0, 1, ... (at most 2^32 blocks)."""
    prefix = hashlib.sha256(beta + label)
    for counter in range(2**32):
        block = prefix.copy()
        block.update(_U32.pack(counter))
        yield block.digest()


class _ByteStream:
    """The bytes of :func:`blocks` read in order, any number at a time."""

    def __init__(self, beta: bytes, label: bytes) -> None:
        self._blocks = blocks(beta, label)
        self._buffer = b""

    def take(self, n: int) -> bytes:
        while len(self._buffer) < n:
            self._buffer += next(self._blocks)
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out


def words(beta: bytes, count: int) -> list[int]:
    """``count`` uint256 words: ``uint256be(SHA-256(β ‖ "word" ‖ uint32be(i)))``."""
    stream = blocks(beta, WORD_LABEL)
    return [int.from_bytes(next(stream), "big") for _ in range(count)]


def output_bytes(beta: bytes, count: int) -> bytes:
    """The first ``count`` bytes of the ``"bytes"`` counter-mode stream."""
    return _ByteStream(beta, BYTES_LABEL).take(count)


def integers(beta: bytes, count: int, minimum: int, maximum: int) -> list[int]:
    """``count`` integers uniform in ``[minimum, maximum]`` by rejection sampling (module docs)."""
    if minimum > maximum:
        raise RandomnessMinAboveMax("min must not be greater than max")
    span = maximum - minimum + 1
    if span == 1:
        return [minimum] * count
    bits = (span - 1).bit_length()
    size = (bits + 7) // 8
    mask = (1 << bits) - 1
    stream = _ByteStream(beta, RANGE_LABEL)
    values: list[int] = []
    while len(values) < count:
        candidate = int.from_bytes(stream.take(size), "big") & mask
        if candidate < span:
            values.append(minimum + candidate)
    return values


@dataclass(frozen=True, slots=True)
class Output:
    """A request's derived output: ``words`` (integers) or ``data`` (bytes)."""

    words: list[int] | None = None
    data: bytes | None = None


def derive(beta: bytes, spec: OutputSpec) -> Output:
    """The output ``spec`` asks for, derived from β."""
    if spec.kind is OutputKind.BYTES:
        return Output(data=output_bytes(beta, spec.count))
    if spec.minimum is not None and spec.maximum is not None:
        return Output(words=integers(beta, spec.count, spec.minimum, spec.maximum))
    return Output(words=words(beta, spec.count))

"""alpha and the output derivation (``enclave/crypto/randomness.py``): byte-exact layout, the counter-mode
expansions, and the rejection sampler's distribution (chi-squared) and properties (hypothesis)."""

from __future__ import annotations

import hashlib
import struct
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from neo_service_layer.enclave.crypto.randomness import (
    INT256_MAX,
    INT256_MIN,
    MAX_BYTES,
    MAX_WORDS,
    AlphaInput,
    OutputKind,
    OutputSpec,
    alpha,
    derive,
    integers,
    output_bytes,
    words,
)
from neo_service_layer.errors import (
    NSLError,
    RandomnessBytesOutOfRange,
    RandomnessMinAboveMax,
    RandomnessRangeIncomplete,
    RandomnessRangeOutOfBounds,
    RandomnessRangeWithBytes,
    RandomnessSeedTooLong,
    RandomnessWordsOutOfRange,
)

BETA = bytes(range(64))


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _field(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def test_alpha_layout_is_byte_exact() -> None:
    spec = OutputSpec(OutputKind.WORDS, 2, -1, 10)
    data = AlphaInput("dyvrf-bls12381", "acc_1", "rnd_2", "key_3", 7, b"\xaa", b"\x01" * 32, spec)
    expected = (
        b"NSL-RANDOMNESS-V1"
        + _field(b"dyvrf-bls12381")
        + _field(b"acc_1")
        + _field(b"rnd_2")
        + _field(b"key_3")
        + _field(b"\x00\x00\x00\x07")
        + _field(b"\xaa")
        + _field(b"\x01" * 32)
        + _field(b"words")
        + _field(b"\x00\x00\x00\x02")
        + _field(b"\xff" * 32)
        + _field(b"\x00" * 31 + b"\x0a")
    )
    assert alpha(data) == expected
    unranged = AlphaInput("s", "a", "r", "k", 1, b"", b"", OutputSpec(OutputKind.BYTES, 5))
    assert alpha(unranged).endswith(
        _field(b"bytes") + _field(b"\x00\x00\x00\x05") + _field(b"") + _field(b"")
    )


def test_every_field_changes_alpha() -> None:
    base = AlphaInput("s", "a", "r", "k", 1, b"seed", b"n" * 32, OutputSpec(OutputKind.WORDS, 1))
    variants = [
        AlphaInput("t", "a", "r", "k", 1, b"seed", b"n" * 32, base.spec),
        AlphaInput("s", "b", "r", "k", 1, b"seed", b"n" * 32, base.spec),
        AlphaInput("s", "a", "q", "k", 1, b"seed", b"n" * 32, base.spec),
        AlphaInput("s", "a", "r", "j", 1, b"seed", b"n" * 32, base.spec),
        AlphaInput("s", "a", "r", "k", 2, b"seed", b"n" * 32, base.spec),
        AlphaInput("s", "a", "r", "k", 1, b"seee", b"n" * 32, base.spec),
        AlphaInput("s", "a", "r", "k", 1, b"seed", b"m" * 32, base.spec),
        AlphaInput("s", "a", "r", "k", 1, b"seed", b"n" * 32, OutputSpec(OutputKind.WORDS, 2)),
        AlphaInput("s", "a", "r", "k", 1, b"seed", b"n" * 32, OutputSpec(OutputKind.BYTES, 1)),
        AlphaInput("s", "a", "r", "k", 1, b"seed", b"n" * 32, OutputSpec(OutputKind.WORDS, 1, 0, 1)),
        # length prefixes: moving a byte from one field to the next is another alpha
        AlphaInput("s", "a", "r", "k", 1, b"see", b"d" + b"n" * 31, base.spec),
    ]
    alphas = {alpha(v) for v in [base, *variants]}
    assert len(alphas) == len(variants) + 1


def test_words_and_bytes_follow_the_documented_streams() -> None:
    expected_words = [int.from_bytes(_sha(BETA + b"word" + struct.pack(">I", i)), "big") for i in range(3)]
    assert words(BETA, 3) == expected_words
    stream = b"".join(_sha(BETA + b"bytes" + struct.pack(">I", i)) for i in range(3))
    assert output_bytes(BETA, 70) == stream[:70]


def test_range_sampler_takes_minimal_bytes_and_rejects() -> None:
    # span 10: 4 bits, one byte per candidate, masked with 0x0f, 10..15 rejected.
    stream = b"".join(_sha(BETA + b"range" + struct.pack(">I", i)) for i in range(4))
    expected = [1 + (b & 0x0F) for b in stream if (b & 0x0F) < 10][:20]
    assert integers(BETA, 20, 1, 10) == expected
    # span 2^16 + 1: 17 bits, three bytes per candidate.
    candidates = [int.from_bytes(stream[i : i + 3], "big") & 0x1FFFF for i in range(0, 90, 3)]
    assert integers(BETA, 5, 0, 2**16) == [c for c in candidates if c <= 2**16][:5]
    assert integers(BETA, 3, 7, 7) == [7, 7, 7]
    assert integers(BETA, 2, INT256_MIN, INT256_MAX) == [
        INT256_MIN + int.from_bytes(stream[i : i + 32], "big") for i in (0, 32)
    ]


try:  # scipy is optional: not a dependency of the project
    from scipy.stats import chi2 as _chi2  # type: ignore[import-not-found, import-untyped, unused-ignore]

    def _chi2_sf(statistic: float, df: int) -> float:  # pragma: no cover
        return float(_chi2.sf(statistic, df))
except ImportError:
    _chi2_sf = None  # type: ignore[assignment, unused-ignore]

# Chi-squared critical values for p = 1e-4 (scipy.stats.chi2.isf(1e-4, df)), used when scipy is absent.
_CRITICAL_1E4 = {9: 33.72, 5: 25.74}


def _p_value_above(observed: list[int], df: int) -> bool:
    total = sum(observed)
    expected = total / len(observed)
    statistic = sum((o - expected) ** 2 / expected for o in observed)
    if _chi2_sf is None:
        return statistic < _CRITICAL_1E4[df]
    return _chi2_sf(statistic, df) > 1e-4  # pragma: no cover - scipy is not a dependency


@pytest.mark.parametrize(("low", "high"), [(1, 10), (-3, 2)], ids=["1..10", "span-6-not-a-power-of-two"])
def test_range_sampler_is_uniform_chi_squared(low: int, high: int) -> None:
    draws: list[int] = []
    for i in range(40):  # 40 x 500 = 20,000 draws from independent betas
        draws += integers(_sha(b"beta" + bytes([i])), 500, low, high)
    counts = Counter(draws)
    assert set(counts) == set(range(low, high + 1))
    assert _p_value_above([counts[v] for v in range(low, high + 1)], high - low)


@pytest.mark.parametrize(
    ("spec_args", "error"),
    [
        ((OutputKind.WORDS, 0), RandomnessWordsOutOfRange),
        ((OutputKind.WORDS, MAX_WORDS + 1), RandomnessWordsOutOfRange),
        ((OutputKind.BYTES, 0), RandomnessBytesOutOfRange),
        ((OutputKind.BYTES, MAX_BYTES + 1), RandomnessBytesOutOfRange),
        ((OutputKind.BYTES, 1, 0, 1), RandomnessRangeWithBytes),
        ((OutputKind.WORDS, 1, 0, None), RandomnessRangeIncomplete),
        ((OutputKind.WORDS, 1, 2, 1), RandomnessMinAboveMax),
        ((OutputKind.WORDS, 1, INT256_MIN - 1, 0), RandomnessRangeOutOfBounds),
        ((OutputKind.WORDS, 1, 0, INT256_MAX + 1), RandomnessRangeOutOfBounds),
    ],
    ids=[
        "words-0",
        "words-501",
        "bytes-0",
        "bytes-1025",
        "range-bytes",
        "incomplete",
        "min>max",
        "min<",
        "max>",
    ],
)
def test_invalid_specs(spec_args: tuple[object, ...], error: type[NSLError]) -> None:
    with pytest.raises(error):
        OutputSpec(*spec_args)  # type: ignore[arg-type]


def test_seed_limit() -> None:
    spec = OutputSpec(OutputKind.WORDS, 1)
    assert alpha(AlphaInput("s", "a", "r", "k", 1, b"x" * 256, b"", spec))
    with pytest.raises(RandomnessSeedTooLong):
        alpha(AlphaInput("s", "a", "r", "k", 1, b"x" * 257, b"", spec))


bounds = st.integers(min_value=INT256_MIN, max_value=INT256_MAX)


@given(beta=st.binary(min_size=32, max_size=64), count=st.integers(1, 50), a=bounds, b=bounds)
def test_ranged_words_are_in_range_and_deterministic(beta: bytes, count: int, a: int, b: int) -> None:
    low, high = min(a, b), max(a, b)
    spec = OutputSpec(OutputKind.WORDS, count, low, high)
    out = derive(beta, spec)
    assert out.words is not None
    assert len(out.words) == count
    assert all(low <= w <= high for w in out.words)
    assert derive(beta, spec) == out


@given(beta=st.binary(min_size=32, max_size=64), count=st.integers(1, MAX_BYTES))
def test_bytes_have_the_asked_length_and_are_a_prefix(beta: bytes, count: int) -> None:
    out = derive(beta, OutputSpec(OutputKind.BYTES, count))
    assert out.data is not None
    assert len(out.data) == count
    assert out.words is None
    assert output_bytes(beta, MAX_BYTES).startswith(out.data)


@given(beta=st.binary(min_size=32, max_size=64), count=st.integers(1, MAX_WORDS))
def test_words_are_uint256(beta: bytes, count: int) -> None:
    out = derive(beta, OutputSpec(OutputKind.WORDS, count))
    assert out.words is not None
    assert len(out.words) == count
    assert all(0 <= w < 2**256 for w in out.words)

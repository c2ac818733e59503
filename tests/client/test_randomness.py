"""``client.verify_randomness`` offline: genuine results verify under the caller's public key; tampered
proofs, outputs, seeds, nonces, specs, truncated or over-long encodings and wrong keys are rejected
with their reason; property test prove → verify (hypothesis)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neo_service_layer.client import RandomnessResult, verify_randomness
from neo_service_layer.enclave.crypto import keys
from neo_service_layer.enclave.crypto.randomness import OutputKind, OutputSpec
from neo_service_layer.enclave.crypto.vrf import Scheme
from neo_service_layer.errors import RandomnessVerificationFailed
from tests.randomness_helpers import SCHEMES, make_result


def _secret(scheme: Scheme) -> bytes:
    return keys.generate(scheme.key_type)


def _flip(hex_text: str, index: int = 0) -> str:
    data = bytearray(bytes.fromhex(hex_text))
    data[index] ^= 0x01
    return data.hex()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_genuine_results_verify(scheme: Scheme) -> None:
    secret = _secret(scheme)
    for spec in (
        OutputSpec(OutputKind.WORDS, 3),
        OutputSpec(OutputKind.WORDS, 5, 1, 6),
        OutputSpec(OutputKind.BYTES, 33),
    ):
        result = make_result(scheme, secret, spec=spec)
        verified = verify_randomness(result, result["public_key"])
        assert verified.beta.hex() == result["output"]
        assert (
            verify_randomness(RandomnessResult.from_json(result), bytes.fromhex(result["public_key"]))
            == verified
        )


TAMPERING: list[tuple[str, Any, str]] = [
    ("proof", lambda r: _flip(r["proof"], 5), "invalid_proof"),
    ("proof", lambda r: r["proof"][:-2], "invalid_proof"),  # truncated
    ("proof", lambda r: r["proof"] + "00", "invalid_proof"),  # over-long
    ("output", lambda r: _flip(r["output"]), "beta_mismatch"),
    ("words", lambda r: [str(int(r["words"][0]) ^ 1), *r["words"][1:]], "output_mismatch"),
    ("words", lambda r: r["words"][:1], "alpha_mismatch"),  # fewer words: another spec, another alpha
    ("seed", lambda r: "00" + r["seed"], "alpha_mismatch"),
    ("nonce", lambda r: _flip(r["nonce"]), "alpha_mismatch"),
    ("alpha", lambda r: _flip(r["alpha"], -1), "alpha_mismatch"),
    ("key_version", lambda r: 2, "alpha_mismatch"),
    ("scheme", lambda r: "ecvrf-made-up", "unknown_scheme"),
    ("nonce", lambda r: "zz", "malformed_result"),
]


@pytest.mark.parametrize(
    ("field", "change", "reason"), TAMPERING, ids=[f"{f}-{r}-{i}" for i, (f, _, r) in enumerate(TAMPERING)]
)
def test_tampered_results_are_rejected(field: str, change: Any, reason: str) -> None:
    scheme = SCHEMES[0]
    result = make_result(scheme, _secret(scheme))
    tampered = {**result, field: change(result)}
    with pytest.raises(RandomnessVerificationFailed) as caught:
        verify_randomness(tampered, result["public_key"])
    assert caught.value.reason == reason


def test_recomputed_alpha_is_used_even_without_the_alpha_field() -> None:
    scheme = SCHEMES[0]
    result = make_result(scheme, _secret(scheme))
    without = {k: v for k, v in result.items() if k != "alpha"}
    verify_randomness(without, result["public_key"])
    with pytest.raises(RandomnessVerificationFailed) as caught:
        verify_randomness({**without, "seed": "ff"}, result["public_key"])
    assert caught.value.reason == "invalid_proof"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_wrong_public_key_is_rejected_whatever_the_result_claims(scheme: Scheme) -> None:
    result = make_result(scheme, _secret(scheme))
    other = make_result(scheme, _secret(scheme))["public_key"]
    forged = {**result, "public_key": other}  # the result's own key is never used
    with pytest.raises(RandomnessVerificationFailed) as caught:
        verify_randomness(forged, other)
    assert caught.value.reason == "invalid_proof"
    for bad in (other[:-2], "zz", bytes(len(bytes.fromhex(other)))):
        with pytest.raises(RandomnessVerificationFailed) as caught:
            verify_randomness(result, bad)
        assert caught.value.reason in ("invalid_public_key", "invalid_proof")


@settings(max_examples=25, deadline=None)
@given(
    scheme=st.sampled_from(SCHEMES),
    seed=st.binary(max_size=256),
    nonce=st.binary(min_size=32, max_size=32),
    count=st.integers(1, 20),
    ranged=st.booleans(),
    low=st.integers(-(2**64), 2**64),
    width=st.integers(0, 2**70),
)
def test_prove_then_verify(
    scheme: Scheme, seed: bytes, nonce: bytes, count: int, ranged: bool, low: int, width: int
) -> None:
    spec = (
        OutputSpec(OutputKind.WORDS, count, low, low + width)
        if ranged
        else OutputSpec(OutputKind.WORDS, count)
    )
    result = make_result(scheme, _secret(scheme), seed=seed, nonce=nonce, spec=spec)
    verified = verify_randomness(result, result["public_key"])
    assert [str(w) for w in verified.words or []] == result["words"]

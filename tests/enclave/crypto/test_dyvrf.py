"""The Dodis-Yampolskiy VRF on BLS12-381 (PKC 2005; docs/dyvrf.md): vectors, the pairing equation checked
with raw arkworks calls, strict decoding, the ``sk + x ≡ 0`` case and a prove → verify property.

Sources: the generators and curve order of draft-irtf-cfrg-pairing-friendly-curves-11 §4.2.1 and
EIP-2537 ("Curve parameters"), the ZCash compressed serialization (flags 0x80 / 0x40 / 0x20), and the
on-chain encodings measured in /work/shared/notes/dyvrf-feasibility.md (CryptoLib scalar: 32 bytes LE).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import py_arkworks_bls12381 as bls
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neo_service_layer.enclave.crypto import dyvrf
from neo_service_layer.enclave.crypto.errors import (
    InvalidInput,
    InvalidKeyMaterial,
    InvalidProof,
    ProofUndefined,
)
from tests.enclave.crypto import dyvrf_vectors
from tests.enclave.crypto.vectors import load_testdata

R = dyvrf.CURVE_ORDER
#: The base field modulus p (draft-irtf-cfrg-pairing-friendly-curves-11 §4.2.1).
P = 0x1A0111EA397FE69A4B1BA7B6434BACD764774B84F38512BF6730D2A0F6B0F6241EABFFFEB153FFFFB9FEFFFFFFFFAAAB
DATA: dict[str, Any] = load_testdata("dyvrf_vectors.json")
VECTORS: list[dict[str, str]] = DATA["vectors"]
G1, G2 = bls.G1Point(), bls.G2Point()


def _vector_params() -> list[Any]:
    return [pytest.param(v, id=v["id"]) for v in VECTORS]


def _unhex(vector: dict[str, str], field: str) -> bytes:
    return bytes.fromhex(vector[field])


def _key_and_proof(alpha: bytes = b"alpha") -> tuple[bytes, bytes, bytes]:
    secret = bytes.fromhex(VECTORS[3]["sk"])
    return secret, dyvrf.public_key(secret), dyvrf.prove(secret, alpha)


# --- constants -----------------------------------------------------------------------------------------


def test_curve_order_is_the_group_order() -> None:
    # (r-1)·G = -G on both groups means r·G = O; r is prime, so it is the order of G1 and G2.
    assert G1 * bls.Scalar(R - 1) == -G1
    assert G2 * bls.Scalar(R - 1) == -G2
    # and arkworks' scalar field has exactly this modulus (r itself is not a canonical scalar).
    assert int(bls.Scalar.from_be_bytes((R - 1).to_bytes(32, "big"))) == R - 1
    with pytest.raises(ValueError, match="invalid"):
        bls.Scalar.from_be_bytes(R.to_bytes(32, "big"))
    assert f"{R:064x}" == DATA["constants"]["r"]


def test_generators_are_the_standard_ones() -> None:
    # EIP-2537 "Curve parameters" (= draft-irtf-cfrg-pairing-friendly-curves-11 §4.2.1), big-endian.
    g1_x = "17f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
    g1_y = "08b3f481e3aaa0f1a09e30ed741d8ae4fcf5e095d5d00af600db18cb2c04b3edd03cc744a2888ae40caa232946c5e7e1"
    g2_x_c0 = (
        "024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8"
    )
    g2_x_c1 = (
        "13e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e"
    )
    g2_y_c0 = (
        "0ce5d527727d6e118cc9cdc6da2e351aadfd9baa8cbdd3a76d429a695160d12c923ac9cc3baca289e193548608b82801"
    )
    g2_y_c1 = (
        "0606c4a02ea734cc32acd2b02bc28b99cb3e287e85a763af267492ab572e99ab3f370d275cec1da1aaa9075ff05f79be"
    )
    pad = "00" * 16
    assert dyvrf.EIP2537_G1_GENERATOR.hex() == pad + g1_x + pad + g1_y
    assert dyvrf.EIP2537_G2_GENERATOR.hex() == pad + g2_x_c0 + pad + g2_x_c1 + pad + g2_y_c0 + pad + g2_y_c1
    # Compressed: x only (G2: c1 before c0), with the compression flag 0x80; y of G1 and G2 is the larger
    # root for neither, so the sort flag 0x20 is clear.
    assert dyvrf.G1_GENERATOR.hex() == "97" + g1_x[2:]
    assert dyvrf.G2_GENERATOR.hex() == "93" + g2_x_c1[2:] + g2_x_c0
    neg_y = P - int(g1_y, 16)  # -(x, y) = (x, p - y)
    assert dyvrf.EIP2537_NEG_G1_GENERATOR.hex() == pad + g1_x + pad + f"{neg_y:096x}"
    constants = DATA["constants"]
    assert (dyvrf.G1_GENERATOR.hex(), dyvrf.G2_GENERATOR.hex()) == (constants["g1"], constants["g2"])
    assert dyvrf.EIP2537_G1_GENERATOR.hex() == constants["g1_eip2537"]
    assert dyvrf.EIP2537_NEG_G1_GENERATOR.hex() == constants["neg_g1_eip2537"]
    assert dyvrf.EIP2537_G2_GENERATOR.hex() == constants["g2_eip2537"]


def test_sizes() -> None:
    assert (dyvrf.SECRET_SIZE, dyvrf.PUBLIC_KEY_SIZE, dyvrf.PROOF_SIZE, dyvrf.OUTPUT_SIZE) == (32, 48, 96, 32)
    assert (dyvrf.EIP2537_G1_SIZE, dyvrf.EIP2537_G2_SIZE) == (128, 256)


# --- vectors -------------------------------------------------------------------------------------------


def test_vector_file_is_what_the_generator_writes() -> None:
    # The file is reproducible from dyvrf_vectors.py (an independent implementation, raw arkworks).
    assert dyvrf_vectors.PATH.read_text(encoding="utf-8") == dyvrf_vectors.render()


@pytest.mark.parametrize("vector", _vector_params())
def test_vectors_reproduce_bit_for_bit(vector: dict[str, str]) -> None:
    secret, alpha, pi = _unhex(vector, "sk"), _unhex(vector, "alpha"), _unhex(vector, "pi")
    dyvrf.validate_secret(secret)
    assert dyvrf.public_key(secret).hex() == vector["pk"]
    x = dyvrf.alpha_to_scalar(alpha)
    assert x.to_bytes(32, "big").hex() == vector["x_be"]
    assert dyvrf.neo_scalar_le(x).hex() == vector["x_le"]
    assert dyvrf.eip2537_scalar(x).hex() == vector["x_be"]
    assert dyvrf.prove(secret, alpha) == pi
    assert dyvrf.proof_to_hash(pi).hex() == vector["beta"]
    assert dyvrf.verify(_unhex(vector, "pk"), alpha, pi) == _unhex(vector, "beta")
    assert dyvrf.eip2537_g1(_unhex(vector, "pk")).hex() == vector["pk_eip2537"]
    assert dyvrf.eip2537_g2(pi).hex() == vector["pi_eip2537"]
    args = dyvrf.onchain_args(_unhex(vector, "pk"), alpha, pi)
    assert (args.x, args.neo_public_key.hex(), args.neo_x_le.hex(), args.neo_proof) == (
        x,
        vector["pk"],
        vector["x_le"],
        pi,
    )
    assert (args.evm_public_key.hex(), args.evm_x_be.hex(), args.evm_proof.hex()) == (
        vector["pk_eip2537"],
        vector["x_be"],
        vector["pi_eip2537"],
    )


@pytest.mark.parametrize("vector", _vector_params())
def test_pairing_equation_holds_with_raw_arkworks(vector: dict[str, str]) -> None:
    """The verification equation, independently of ``dyvrf.verify``: e(x·G1 + pk, π) == e(G1, G2)."""
    pk = bls.G1Point.from_compressed_bytes(_unhex(vector, "pk"))
    pi = bls.G2Point.from_compressed_bytes(_unhex(vector, "pi"))
    x = bls.Scalar(int(vector["x_be"], 16))
    assert bls.GT.pairing(G1 * x + pk, pi) == bls.GT.pairing(G1, G2)
    # The EVM form: PAIRING_CHECK((x·G1 + pk, π), (-G1, G2)) is the product = 1.
    assert bls.GT.pairing_check([G1 * x + pk, -G1], [pi, G2])
    # The wrong x or the wrong sign of π breaks it.
    assert not bls.GT.pairing_check([G1 * (x + bls.Scalar(1)) + pk, -G1], [pi, G2])
    assert not bls.GT.pairing_check([G1 * x + pk, -G1], [-pi, G2])
    # The EIP-2537 bytes decode (unpadded) to the same points: c0 before c1, big-endian.
    evm_pk, evm_pi = _unhex(vector, "pk_eip2537"), _unhex(vector, "pi_eip2537")
    assert all(evm_pk[i : i + 16] == bytes(16) for i in range(0, 128, 64))
    assert all(evm_pi[i : i + 16] == bytes(16) for i in range(0, 256, 64))
    unpad = b"".join(evm_pk[i + 16 : i + 64] for i in range(0, 128, 64))
    assert bls.G1Point.from_xy_bytes_be(unpad) == pk
    unpad = b"".join(evm_pi[i + 16 : i + 64] for i in range(0, 256, 64))
    assert bls.G2Point.from_xy_bytes_be(unpad) == pi
    # x derivation by hand: SHA-256, top two bits cleared; LE is the byte reversal of BE.
    digest = bytearray(hashlib.sha256(_unhex(vector, "alpha")).digest())
    digest[0] &= 0x3F
    assert digest.hex() == vector["x_be"]
    assert _unhex(vector, "x_le") == _unhex(vector, "x_be")[::-1]


def _compress_eip2537_g2(evm: bytes) -> bytes:
    """docs/dyvrf.md §6: an EVM contract rebuilds the compressed π (for β) from the EIP-2537 words."""
    x_c0, x_c1, y_c0, y_c1 = (int.from_bytes(evm[i : i + 64], "big") for i in range(0, 256, 64))
    # ZCash sort flag: y is the lexicographically larger of ±y, comparing c1 first (c0 if c1 = 0).
    larger = y_c1 > (P - 1) // 2 if y_c1 else y_c0 > (P - 1) // 2
    head = x_c1.to_bytes(48, "big")
    flags = 0x80 | (0x20 if larger else 0)
    return bytes([head[0] | flags]) + head[1:] + x_c0.to_bytes(48, "big")


@pytest.mark.parametrize("vector", _vector_params())
def test_evm_recipe_recovers_the_compressed_proof_and_beta(vector: dict[str, str]) -> None:
    compressed = _compress_eip2537_g2(_unhex(vector, "pi_eip2537"))
    assert compressed.hex() == vector["pi"]
    assert hashlib.sha256(compressed).hexdigest() == vector["beta"]


def test_x_clears_exactly_the_top_two_bits() -> None:
    # SHA-256("abc") = ba7816bf… (FIPS 180-2 B.1): 0xba = 0b10111010 → 0x3a.
    assert dyvrf.alpha_to_scalar(b"abc") == int(
        "3a7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 16
    )
    assert all(dyvrf.alpha_to_scalar(bytes([i])) < 2**254 for i in range(256))


# --- invalid proofs, keys and inputs ------------------------------------------------------------------


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


# Bit 0 = the compression flag, 1 = the infinity flag, 2 = the sort (sign of y) flag: flipping it gives
# -π, a valid point that fails the equation; 3.. = the x coordinate (G2: x.c1 then x.c0).
@pytest.mark.parametrize("bit", [0, 1, 2, 3, 7, 8, 200, 383, 384, 500, 767])
def test_tampered_proof_is_invalid(bit: int) -> None:
    _, public, pi = _key_and_proof()
    tampered = _flip(pi, bit)
    assert dyvrf.verify(public, b"alpha", tampered) is None


def test_sign_flipped_proof_decodes_but_fails_the_equation() -> None:
    _, public, pi = _key_and_proof()
    negated = _flip(pi, 2)
    assert bls.G2Point.from_compressed_bytes(negated) == -bls.G2Point.from_compressed_bytes(pi)
    assert dyvrf.proof_to_hash(negated) != dyvrf.proof_to_hash(pi)  # decodes: a point of G2
    assert dyvrf.verify(public, b"alpha", negated) is None


def test_wrong_key_and_wrong_alpha_are_invalid() -> None:
    secret, public, pi = _key_and_proof()
    assert dyvrf.verify(public, b"alpha", pi) == dyvrf.proof_to_hash(pi)
    assert dyvrf.verify(public, b"alphb", pi) is None
    assert dyvrf.verify(public, b"", pi) is None
    other = dyvrf.public_key(bytes.fromhex(VECTORS[4]["sk"]))
    assert dyvrf.verify(other, b"alpha", pi) is None
    # A proof of another input under the same key is no proof of this one.
    assert dyvrf.verify(public, b"alpha", dyvrf.prove(secret, b"other")) is None


def _g1_not_in_subgroup() -> bytes:
    # x = 4 is on E(Fp) (found by search) but not in the r-order subgroup (the cofactor is not 1).
    data = bytes([0x80]) + (4).to_bytes(47, "big")
    assert not bls.G1Point.from_compressed_bytes_unchecked(data).is_in_subgroup()
    return data


def _g2_not_in_subgroup() -> bytes:
    data = bytes([0x80]) + bytes(47) + (2).to_bytes(48, "big")  # x = 0 + 2·u
    assert not bls.G2Point.from_compressed_bytes_unchecked(data).is_in_subgroup()
    return data


BAD_PROOFS: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda pi: b"",
    "truncated": lambda pi: pi[:-1],
    "over-long": lambda pi: pi + b"\x00",
    "g1-sized": lambda pi: pi[:48],
    "uncompressed-flag-clear": lambda pi: bytes([pi[0] & 0x7F]) + pi[1:],
    "infinity": lambda pi: bytes([0xC0]) + bytes(95),
    "infinity-with-junk": lambda pi: bytes([0xC0 | (pi[0] & 0x1F)]) + pi[1:],  # arkworks reads O
    "off-curve": lambda pi: bytes([0x80]) + bytes(94) + b"\x01",
    "not-in-subgroup": lambda pi: _g2_not_in_subgroup(),
    "x.c1=p": lambda pi: bytes([0x80 | (P >> 376)]) + (P % (1 << 376)).to_bytes(47, "big") + bytes(48),
    "x.c0=p": lambda pi: bytes([0x80]) + bytes(47) + P.to_bytes(48, "big"),
}
BAD_KEYS: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda pk: b"",
    "truncated": lambda pk: pk[:-1],
    "over-long": lambda pk: pk + b"\x00",
    "sec1-sized": lambda pk: b"\x02" + pk[:32],
    "uncompressed-flag-clear": lambda pk: bytes([pk[0] & 0x7F]) + pk[1:],
    "infinity": lambda pk: bytes([0xC0]) + bytes(47),
    "infinity-with-junk": lambda pk: bytes([0xC0 | (pk[0] & 0x1F)]) + pk[1:],
    "off-curve": lambda pk: bytes([0x80]) + (1).to_bytes(47, "big"),
    "not-in-subgroup": lambda pk: _g1_not_in_subgroup(),
    "x=p": lambda pk: bytes([0x80 | (P >> 376)]) + (P % (1 << 376)).to_bytes(47, "big"),
}


@pytest.mark.parametrize("case", list(BAD_PROOFS))
def test_undecodable_proofs_are_invalid(case: str) -> None:
    _, public, pi = _key_and_proof()
    bad = BAD_PROOFS[case](pi)
    assert dyvrf.verify(public, b"alpha", bad) is None
    with pytest.raises(InvalidProof):
        dyvrf.proof_to_hash(bad)
    with pytest.raises(InvalidProof):
        dyvrf.eip2537_g2(bad)
    with pytest.raises(InvalidProof):
        dyvrf.onchain_args(public, b"alpha", bad)


@pytest.mark.parametrize("case", list(BAD_KEYS))
def test_undecodable_public_keys_are_invalid(case: str) -> None:
    _, public, pi = _key_and_proof()
    bad = BAD_KEYS[case](public)
    assert dyvrf.verify(bad, b"alpha", pi) is None
    with pytest.raises(InvalidKeyMaterial):
        dyvrf.validate_public_key(bad)
    with pytest.raises(InvalidKeyMaterial):
        dyvrf.eip2537_g1(bad)
    with pytest.raises(InvalidKeyMaterial):
        dyvrf.onchain_args(bad, b"alpha", pi)


def test_non_subgroup_points_would_otherwise_pass_the_length_and_curve_checks() -> None:
    # Not vacuous: both points are on their curves, so only the subgroup check refuses them.
    bls.G1Point.from_compressed_bytes_unchecked(_g1_not_in_subgroup())
    bls.G2Point.from_compressed_bytes_unchecked(_g2_not_in_subgroup())


# --- secrets and the sk + x ≡ 0 case -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scalar", "valid"),
    [(1, True), (R - 1, True), (0, False), (R, False), (R + 1, False), (2**256 - 1, False)],
    ids=["1", "r-1", "0", "r", "r+1", "2^256-1"],
)
def test_secret_range(scalar: int, valid: bool) -> None:
    secret = scalar.to_bytes(32, "big")
    if valid:
        dyvrf.validate_secret(secret)
        assert len(dyvrf.public_key(secret)) == dyvrf.PUBLIC_KEY_SIZE
        return
    with pytest.raises(InvalidKeyMaterial, match="out of range") as info:
        dyvrf.validate_secret(secret)
    assert secret.hex() not in str(info.value)
    with pytest.raises(InvalidKeyMaterial):
        dyvrf.prove(secret, b"alpha")


@pytest.mark.parametrize("size", [0, 31, 33, 48])
def test_secret_size(size: int) -> None:
    with pytest.raises(InvalidKeyMaterial, match="32 bytes"):
        dyvrf.validate_secret(b"\x01" * size)


def test_generate_secret_is_valid_and_fresh() -> None:
    secrets = {dyvrf.generate_secret() for _ in range(16)}
    assert len(secrets) == 16
    for secret in secrets:
        dyvrf.validate_secret(secret)


def test_proof_undefined_when_sk_plus_x_is_zero() -> None:
    # Through the internal function with x directly, and through prove with the key sk = r - x(alpha)
    # (a preimage of x cannot be found, but the key for a given alpha can).
    x = 12345
    with pytest.raises(ProofUndefined, match="sk \\+ x") as info:
        dyvrf._prove_scalar(R - x, x)
    assert (info.value.code, info.value.user_error) == ("proof_undefined", True)
    alpha = b"unprovable"
    secret = (R - dyvrf.alpha_to_scalar(alpha)).to_bytes(32, "big")
    dyvrf.validate_secret(secret)
    with pytest.raises(ProofUndefined):
        dyvrf.prove(secret, alpha)
    # That key proves every other input, and nothing verifies for alpha: x·G1 + pk = O, e(O, π) = 1.
    public = dyvrf.public_key(secret)
    assert dyvrf.verify(public, b"other", dyvrf.prove(secret, b"other")) is not None
    for pi in (dyvrf.G2_GENERATOR, dyvrf.prove(secret, b"other")):
        assert dyvrf.verify(public, alpha, pi) is None
    assert dyvrf._prove_scalar(R - x, x + 1) == dyvrf.G2_GENERATOR  # 1/(sk + x) = 1


@pytest.mark.parametrize("encode", [dyvrf.neo_scalar_le, dyvrf.eip2537_scalar], ids=["neo-le", "eip2537-be"])
def test_scalar_encoders_take_canonical_scalars_only(encode: Callable[[int], bytes]) -> None:
    # CryptoLib bls12381Mul FAULTs on r and above (dyvrf-feasibility note): never produce them.
    assert len(encode(R - 1)) == 32
    assert encode(0) == bytes(32)
    for bad in (R, -1, 2**256):
        with pytest.raises(InvalidInput):
            encode(bad)
    assert dyvrf.neo_scalar_le(2**253 + 5) == dyvrf.eip2537_scalar(2**253 + 5)[::-1]


# --- property ------------------------------------------------------------------------------------------


@settings(max_examples=12, deadline=None)
@given(sk=st.integers(min_value=1, max_value=R - 1), alpha=st.binary(max_size=64))
def test_prove_verify_round_trip(sk: int, alpha: bytes) -> None:
    secret = sk.to_bytes(32, "big")
    public = dyvrf.public_key(secret)
    pi = dyvrf.prove(secret, alpha)
    assert len(pi) == dyvrf.PROOF_SIZE
    beta = dyvrf.verify(public, alpha, pi)
    assert beta == dyvrf.proof_to_hash(pi) == hashlib.sha256(pi).digest()
    assert dyvrf.prove(secret, alpha) == pi  # deterministic: one proof per (key, input)
    assert dyvrf.verify(public, alpha + b"\x00", pi) is None
    assert _compress_eip2537_g2(dyvrf.eip2537_g2(pi)) == pi

"""The Dodis-Yampolskiy VRF on BLS12-381, in the encodings Neo N3 CryptoLib and EIP-2537 verify on chain.

Scheme (Y. Dodis, A. Yampolskiy, "A Verifiable Random Function with Short Proofs and Keys", PKC 2005,
§4), written additively with the BLS12-381 generators ``G1``, ``G2`` and group order ``r``
(draft-irtf-cfrg-pairing-friendly-curves-11 §4.2.1); the full description, on-chain recipes and test
vectors are in ``docs/dyvrf.md``:

- secret ``sk``: 32 bytes big-endian, ``1 ≤ sk < r``; public key ``pk = sk·G1``;
- input ``alpha`` (any bytes) → ``x = SHA-256(alpha)`` big-endian with the top two bits cleared, so
  ``x < 2^254 < r`` is a canonical scalar on every chain;
- proof ``π = (1/(sk + x))·G2``; it does not exist when ``sk + x ≡ 0 (mod r)`` (:class:`ProofUndefined`);
- valid iff ``e(x·G1 + pk, π) == e(G1, G2)``;
- output ``β = SHA-256(π)`` over the 96-byte compressed proof. The paper's output is
  ``e(G1, G2)^(1/(sk + x))``; π is unique for ``(pk, x)`` (the equation pins it), so hashing it is the
  proof-to-hash step of RFC 9381 §5.2, and a contract recomputes β with one SHA-256 of bytes it has.

Encodings are the ZCash BLS12-381 serialization (draft-irtf-cfrg-pairing-friendly-curves-11 Appendix C,
arkworks ``to_compressed_bytes``): G1 48 bytes, G2 96 bytes, which is exactly what Neo N3
``CryptoLib.bls12381Deserialize`` takes (measured on neo-go 0.120; docs/dyvrf.md §2). Decoding is
strict: exact length, canonical (arkworks rejects coordinates ≥ p and points off the curve or outside
the prime-order subgroup; the identity, which arkworks also reads with junk after its flag, is refused
here), so one point has one encoding and β is a function of ``(pk, alpha)`` alone.

Primitives come from ``py_arkworks_bls12381`` (arkworks-rs ``ark-bls12-381``), never hand-rolled.
Side channels: arkworks' scalar multiplication is not constant time (a concern for hardware TEEs; the
inversion below is made secret-independent, the multiplication is not).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import py_arkworks_bls12381 as bls

from neo_service_layer.enclave.crypto.errors import (
    InvalidInput,
    InvalidKeyMaterial,
    InvalidProof,
    ProofUndefined,
)

#: Size of the secret: a big-endian scalar in ``[1, r)``.
SECRET_SIZE = 32
#: Bytes of key material reduced to a secret (draft-irtf-cfrg-bls-signature-05 §2.3: L = 48).
KEYGEN_OKM_SIZE = 48
#: Size of a public key: a compressed G1 point.
PUBLIC_KEY_SIZE = 48
#: Size of a proof: a compressed G2 point.
PROOF_SIZE = 96
#: Size of the output β (SHA-256).
OUTPUT_SIZE = 32
#: Size of a scalar on both chains (CryptoLib ``bls12381Mul`` little-endian, EIP-2537 MSM big-endian).
SCALAR_SIZE = 32
#: EIP-2537 sizes: an Fp element is 16 zero bytes ‖ 48-byte big-endian value; G1 = x ‖ y; G2 = 4 Fp.
EIP2537_FP_SIZE = 64
EIP2537_G1_SIZE = 2 * EIP2537_FP_SIZE
EIP2537_G2_SIZE = 4 * EIP2537_FP_SIZE

#: Order r of G1, G2 and GT (draft-irtf-cfrg-pairing-friendly-curves-11 §4.2.1). The tests prove it:
#: r·G1 is the identity and arkworks refuses the scalar r.
CURVE_ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
#: Clears the top two bits of the 256-bit digest: x < 2^254 < r, canonical for CryptoLib without reduction.
_X_MASK = (1 << 254) - 1
_FP_SIZE = 48
_FP_PAD = bytes(EIP2537_FP_SIZE - _FP_SIZE)

_G1 = bls.G1Point()  # the standard generators (arkworks G1Point() / G2Point())
_G2 = bls.G2Point()
_G1_IDENTITY = bls.G1Point.identity()
_G2_IDENTITY = bls.G2Point.identity()
# e(G1, G2), computed once: verify compares one pairing against it (≈1.3 ms) instead of a two-pairing
# check with -G1 (≈1.6 ms, measured). It is never taken from a caller (docs/dyvrf.md: forged proofs).
_E_G1_G2 = bls.GT.pairing(_G1, _G2)
# Fermat inversion exponent: s^(r-2) runs the same square-and-multiply chain for every s, unlike
# arkworks' binary-Euclid inverse(), whose branches depend on the secret sk + x.
_INVERSE_EXPONENT = bls.Scalar(CURVE_ORDER - 2)

#: The compressed G1 and G2 generators (the literals a Neo contract deserializes).
G1_GENERATOR = _G1.to_compressed_bytes()
G2_GENERATOR = _G2.to_compressed_bytes()


def _eip2537_pad(xy_be: bytes) -> bytes:
    # arkworks to_xy_bytes_be gives 48-byte big-endian Fp chunks, G2 with c0 before c1 (EIP-2537 order).
    return b"".join(_FP_PAD + xy_be[i : i + _FP_SIZE] for i in range(0, len(xy_be), _FP_SIZE))


#: EIP-2537 encodings of the generators and of -G1 (constants of an EVM verifier contract).
EIP2537_G1_GENERATOR = _eip2537_pad(_G1.to_xy_bytes_be())
EIP2537_NEG_G1_GENERATOR = _eip2537_pad((-_G1).to_xy_bytes_be())
EIP2537_G2_GENERATOR = _eip2537_pad(_G2.to_xy_bytes_be())


# --- keys ---------------------------------------------------------------------------------------------


def validate_secret(secret: bytes) -> None:
    """Raise :class:`InvalidKeyMaterial` unless ``secret`` is 32 bytes encoding ``1 ≤ sk < r``."""
    _secret_scalar(secret)


def generate_secret() -> bytes:
    """A fresh secret, uniform in ``[1, r)`` (``secrets`` = the OS CSPRNG)."""
    return (1 + secrets.randbelow(CURVE_ORDER - 1)).to_bytes(SECRET_SIZE, "big")


def secret_from_okm(okm: bytes) -> bytes:
    """The secret for 48 bytes of uniform key material: ``OS2IP(okm) mod r`` (the reduction of
    draft-irtf-cfrg-bls-signature-05 §2.3 KeyGen: 48 bytes leave a bias below 2^-128).

    Raises :class:`InvalidKeyMaterial` for the zero scalar (probability 2^-255: never, in practice).
    """
    if len(okm) != KEYGEN_OKM_SIZE:
        raise InvalidKeyMaterial(f"key material must be {KEYGEN_OKM_SIZE} bytes, got {len(okm)}")
    sk = int.from_bytes(okm, "big") % CURVE_ORDER
    if sk == 0:
        raise InvalidKeyMaterial("key material reduces to the zero scalar")
    return sk.to_bytes(SECRET_SIZE, "big")


def public_key(secret: bytes) -> bytes:
    """The compressed G1 public key ``sk·G1`` (48 bytes) of ``secret``."""
    return (_G1 * bls.Scalar(_secret_scalar(secret))).to_compressed_bytes()


def validate_public_key(public_key: bytes) -> None:
    """Raise :class:`InvalidKeyMaterial` unless ``public_key`` is a canonical compressed G1 point, not O."""
    _decode_public_key(public_key)


def _secret_scalar(secret: bytes) -> int:
    if len(secret) != SECRET_SIZE:
        raise InvalidKeyMaterial(f"bls12381 secret must be {SECRET_SIZE} bytes, got {len(secret)}")
    sk = int.from_bytes(secret, "big")
    if not 1 <= sk < CURVE_ORDER:
        raise InvalidKeyMaterial("bls12381 secret scalar is out of range [1, r-1]")
    return sk


# --- prove / verify -----------------------------------------------------------------------------------


def alpha_to_scalar(alpha: bytes) -> int:
    """``x``: SHA-256 of ``alpha``, big-endian, with the top two bits of the first byte cleared."""
    return int.from_bytes(hashlib.sha256(alpha).digest(), "big") & _X_MASK


def prove(secret: bytes, alpha: bytes) -> bytes:
    """The proof ``π = (1/(sk + x))·G2`` (96 bytes compressed) for ``alpha``.

    Raises :class:`InvalidKeyMaterial` for a bad secret and :class:`ProofUndefined` if ``sk + x ≡ 0``.
    """
    return _prove_scalar(_secret_scalar(secret), alpha_to_scalar(alpha))


def _prove_scalar(sk: int, x: int) -> bytes:
    """The proof for a scalar ``x`` directly (tests reach ``sk + x ≡ 0`` through it; no hash preimage)."""
    s = bls.Scalar(sk) + bls.Scalar(x)  # Scalar() reduces mod r
    if s.is_zero():
        raise ProofUndefined("the proof does not exist for this key and input (sk + x ≡ 0 mod r)")
    return (_G2 * s.pow(_INVERSE_EXPONENT)).to_compressed_bytes()


def proof_to_hash(pi: bytes) -> bytes:
    """The output ``β = SHA-256(π)`` of a proof; :class:`InvalidProof` if ``pi`` is not a valid G2 encoding.

    It does not verify the proof against a key and input: use :func:`verify` for that.
    """
    _decode_proof(pi)
    return hashlib.sha256(pi).digest()


def verify(public_key: bytes, alpha: bytes, pi: bytes) -> bytes | None:
    """``β`` if ``pi`` proves ``alpha`` under ``public_key``, else ``None`` (never raises for bad bytes)."""
    try:
        pk = _decode_public_key(public_key)
        proof = _decode_proof(pi)
    except (InvalidKeyMaterial, InvalidProof):
        return None
    lhs = _G1 * bls.Scalar(alpha_to_scalar(alpha)) + pk
    if bls.GT.pairing(lhs, proof) != _E_G1_G2:
        return None
    return hashlib.sha256(pi).digest()


# --- strict decoding ----------------------------------------------------------------------------------


def _decode_public_key(data: bytes) -> bls.G1Point:
    if len(data) != PUBLIC_KEY_SIZE:
        raise InvalidKeyMaterial(f"bls12381 public key must be {PUBLIC_KEY_SIZE} bytes, got {len(data)}")
    try:
        # The checked decoder refuses x ≥ p, points off the curve and outside the r-order subgroup.
        point = bls.G1Point.from_compressed_bytes(data)
    except (ValueError, TypeError) as e:
        raise InvalidKeyMaterial("bls12381 public key is not a G1 point") from e
    if point == _G1_IDENTITY:
        raise InvalidKeyMaterial("bls12381 public key is the point at infinity")
    if point.to_compressed_bytes() != data:  # pragma: no cover - only the identity has other encodings
        raise InvalidKeyMaterial("bls12381 public key is not canonically encoded")
    return point


def _decode_proof(data: bytes) -> bls.G2Point:
    if len(data) != PROOF_SIZE:
        raise InvalidProof(f"proof must be {PROOF_SIZE} bytes, got {len(data)}")
    try:
        point = bls.G2Point.from_compressed_bytes(data)
    except (ValueError, TypeError) as e:
        raise InvalidProof("proof is not a G2 point") from e
    if point == _G2_IDENTITY:
        raise InvalidProof("proof is the point at infinity")
    if point.to_compressed_bytes() != data:  # pragma: no cover - only the identity has other encodings
        raise InvalidProof("proof is not canonically encoded")
    return point


# --- on-chain arguments -------------------------------------------------------------------------------


def _check_scalar(x: int) -> None:
    if not 0 <= x < CURVE_ORDER:
        raise InvalidInput("scalar is out of range [0, r-1]")


def neo_scalar_le(x: int) -> bytes:
    """``x`` as CryptoLib ``bls12381Mul`` takes it: exactly 32 bytes, little-endian, canonical (< r)."""
    _check_scalar(x)
    return x.to_bytes(SCALAR_SIZE, "little")


def eip2537_scalar(x: int) -> bytes:
    """``x`` as the EIP-2537 G1MSM precompile takes it: 32 bytes big-endian."""
    _check_scalar(x)
    return x.to_bytes(SCALAR_SIZE, "big")


def eip2537_g1(public_key: bytes) -> bytes:
    """The EIP-2537 encoding (128 bytes: x ‖ y, each 16 zero bytes ‖ 48-byte BE) of a compressed pk."""
    return _eip2537_pad(_decode_public_key(public_key).to_xy_bytes_be())


def eip2537_g2(pi: bytes) -> bytes:
    """The EIP-2537 encoding (256 bytes: x.c0 ‖ x.c1 ‖ y.c0 ‖ y.c1, each Fp padded) of a compressed proof."""
    return _eip2537_pad(_decode_proof(pi).to_xy_bytes_be())


@dataclass(frozen=True, slots=True)
class OnchainArgs:
    """The bytes each chain's verifier takes for one ``(public_key, alpha, pi)`` (docs/dyvrf.md §5)."""

    x: int
    #: Neo N3: compressed pk (48) and π (96) for ``bls12381Deserialize``; x little-endian for ``bls12381Mul``.
    neo_public_key: bytes
    neo_x_le: bytes
    neo_proof: bytes
    #: EVM (EIP-2537): uncompressed pk (128) and π (256); x big-endian for G1MSM.
    evm_public_key: bytes
    evm_x_be: bytes
    evm_proof: bytes


def onchain_args(public_key: bytes, alpha: bytes, pi: bytes) -> OnchainArgs:
    """The verifier arguments of both chains. Checks the encodings, not the proof (use :func:`verify`).

    Raises :class:`InvalidKeyMaterial` / :class:`InvalidProof` for an undecodable key / proof.
    """
    x = alpha_to_scalar(alpha)
    return OnchainArgs(
        x=x,
        neo_public_key=public_key,
        neo_x_le=neo_scalar_le(x),
        neo_proof=pi,
        evm_public_key=eip2537_g1(public_key),
        evm_x_be=eip2537_scalar(x),
        evm_proof=eip2537_g2(pi),
    )

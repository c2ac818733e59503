"""ECVRF (RFC 9381 §5) for the suites ECVRF-P256-SHA256-TAI and ECVRF-EDWARDS25519-SHA512-TAI.

The algorithms follow RFC 9381 step by step: prove (§5.1), proof_to_hash (§5.2), verify (§5.3, always
with validate_key, §5.4.5), encode_to_curve by try-and-increment (§5.4.1.1), nonce generation
(§5.4.2.1: RFC 6979 §3.2 for P-256; §5.4.2.2: RFC 8032 style for edwards25519), the five-point
challenge of the final RFC (§5.4.3: Y, H, Gamma, U, V) and decode_proof (§5.4.4). The suite
parameters are those of §5.5:

=================================  =====  =======  ========  =====  ====  ====  ====
suite                              octet  hash     cofactor  ptLen  cLen  qLen  beta
=================================  =====  =======  ========  =====  ====  ====  ====
``ecvrf-p256-sha256-tai``          0x01   SHA-256  1         33     16    32    32
``ecvrf-edwards25519-sha512-tai``  0x03   SHA-512  8         32     16    32    64
=================================  =====  =======  ========  =====  ====  ====  ====

The secret is the key material as :mod:`.keys` stores it, which is exactly the RFC's SK: the P-256
scalar ``x`` (32 bytes big-endian, ``1 ≤ x < q``) and the 32-byte RFC 8032 seed for edwards25519
(``x`` = the clamped low half of SHA-512(SK), RFC 8032 §5.1.5). Public keys are the RFC encodings,
which are also the keys service's: SEC 1 compressed (33 bytes) and RFC 8032 (32 bytes). Every
Appendix B.1 / B.3 vector is reproduced bit for bit (``tests/enclave/crypto/test_ecvrf.py``).

Group operations come from libraries: for P-256, fastecdsa (variable-base products, subtraction)
and OpenSSL through ``cryptography`` (fixed-base products, SEC 1 decompression); for edwards25519,
libsodium through PyNaCl. Only scalars (integers mod ``q``) are handled in Python. Where this module
is stricter than the RFC, and why that is safe:

- edwards25519 public keys and Gamma must be canonical points of the prime-order subgroup other than
  the identity (``crypto_core_ed25519_is_valid_point``). The RFC decodes any curve point (RFC 8032
  §5.1.3) and validate_key rejects only small-order keys. libsodium's scalar multiplication refuses
  points outside the prime-order subgroup. Honest keys ``x·B`` and honest ``Gamma = x·H`` (``H``
  has had its cofactor cleared) are always in that subgroup and never the identity, so every honest
  key and proof is accepted. :func:`prove` never produces a point with a torsion component ``T``.
  The RFC would accept such a Gamma only when the order of ``T`` divides ``c``, and then with the
  honest β (``cofactor·Gamma`` drops ``T``). Rejecting it adds no output and removes a malleable
  proof form. A key with a torsion component is a second encoding of the same secret's key.
- P-256 public keys must be the 33-byte compressed encoding. SEC 1 §2.3.4 also decodes the 65-byte
  uncompressed form. Keys from this module and from :mod:`.keys` are always compressed, and the
  byte string is hashed as the encode_to_curve salt, so two encodings of one key would give two
  different outputs.
- proof_to_hash decodes Gamma with the same rules, so it raises :class:`InvalidProof` for a Gamma
  that verify would reject anyway.

Exact where the libraries would otherwise differ from the RFC: libsodium refuses a zero scalar and an
identity result, so a product whose scalar is ``0 mod q`` is returned as the identity here (the points
multiplied have order ``q``, so that is exactly when the product is the identity). libsodium decodes
``y ≥ p`` by reducing it, so try-and-increment rejects such a candidate first, as RFC 8032 §5.1.3 does.

Side channels: libsodium and OpenSSL's fixed-base products are constant-time. fastecdsa's
variable-base products (``x·H``, ``k·H`` for P-256) and Python's integers (``s = k + c·x mod q``) are
not documented as constant-time. This module assumes, as the rest of the enclave's Python code does,
that callers cannot time individual operations finely.
"""

from __future__ import annotations

import hashlib
import hmac
from abc import ABC, abstractmethod
from enum import StrEnum
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions
from cryptography.hazmat.primitives.asymmetric import ec
from fastecdsa.curve import P256
from fastecdsa.rust import Point  # what fastecdsa.point re-exports, without an explicit export

from neo_service_layer.enclave.crypto.errors import InvalidInput, InvalidKeyMaterial, InvalidProof


class Suite(StrEnum):
    """The RFC 9381 ciphersuites (values are the randomness service's stable wire names)."""

    P256_SHA256_TAI = "ecvrf-p256-sha256-tai"
    EDWARDS25519_SHA512_TAI = "ecvrf-edwards25519-sha512-tai"


#: cLen: the challenge is the first 16 bytes of a hash in both suites (§5.5).
CHALLENGE_SIZE = 16
#: Size of the secret key SK in both suites.
SECRET_SIZE = 32
#: try_and_increment's counter is one byte (int_to_string(ctr, 1), §5.4.1.1).
_MAX_TRIES = 256

# Domain separators: encode_to_curve (§5.4.1.1), challenge_generation (§5.4.3), proof_to_hash
# (§5.2); every hash input ends with 0x00.
_ENCODE_TO_CURVE_FRONT = b"\x01"
_CHALLENGE_FRONT = b"\x02"
_PROOF_TO_HASH_FRONT = b"\x03"
_BACK = b"\x00"


class _Group[P](ABC):
    """The per-suite part of §5.5: hash, encodings, group operations, secret scalar and nonce."""

    suite_string: bytes
    point_size: int  # ptLen
    scalar_size: int  # qLen
    output_size: int  # hLen: β is a whole hash output
    order: int  # q, the prime order of B

    @property
    def proof_size(self) -> int:
        """ptLen + cLen + qLen (§5.4.4)."""
        return self.point_size + CHALLENGE_SIZE + self.scalar_size

    @abstractmethod
    def hash(self, data: bytes) -> bytes: ...

    @abstractmethod
    def secret_scalar(self, secret: bytes) -> int:
        """The VRF secret scalar ``x`` of SK; raises :class:`InvalidKeyMaterial`."""

    @abstractmethod
    def nonce(self, secret: bytes, x: int, h_string: bytes) -> int:
        """ECVRF_nonce_generation (§5.4.2)."""

    @abstractmethod
    def base_mul(self, scalar: int) -> P: ...

    @abstractmethod
    def mul(self, scalar: int, point: P) -> P: ...

    @abstractmethod
    def sub(self, a: P, b: P) -> P: ...

    @abstractmethod
    def clear_cofactor(self, point: P) -> P: ...

    @abstractmethod
    def encode(self, point: P) -> bytes:
        """point_to_string."""

    @abstractmethod
    def decode(self, data: bytes) -> P | None:
        """string_to_point for keys and Gamma, with validate_key's checks (§5.4.5); None if invalid."""

    @abstractmethod
    def hash_to_point(self, hash_string: bytes) -> P | None:
        """interpret_hash_value_as_a_point then cofactor clearing (§5.4.1.1 steps C-D); None when the
        result is INVALID or the identity, i.e. when try_and_increment must try the next counter."""

    @abstractmethod
    def string_to_int(self, data: bytes) -> int: ...

    @abstractmethod
    def int_to_string(self, value: int, size: int) -> bytes: ...


# --- ECVRF-P256-SHA256-TAI ------------------------------------------------------------------------


def rfc6979_nonce(x: int, message: bytes, order: int = P256.q) -> int:
    """RFC 6979 §3.2 with HMAC-SHA256 (qlen = hlen = 256 bits), as RFC 9381 §5.4.2.1 uses it.

    ``message`` is m (RFC 9381 passes h_string), hashed once more in step a. RFC 9381 omits the
    "suitable for ECDSA" (r ≠ 0) test of step h.3, and so does this function. ``order`` exists so
    that the tests can reach step h's retry branch, which P-256 takes with probability about 2^-32.
    """
    size = 32
    # bits2octets(h1) (§2.3.4): with qlen = hlen, bits2int is a plain big-endian read.
    z = int.from_bytes(hashlib.sha256(message).digest(), "big") % order
    seed = x.to_bytes(size, "big") + z.to_bytes(size, "big")
    v, k = b"\x01" * size, b"\x00" * size  # steps b, c
    k = _hmac(k, v + b"\x00" + seed)  # d
    v = _hmac(k, v)  # e
    k = _hmac(k, v + b"\x01" + seed)  # f
    v = _hmac(k, v)  # g
    while True:  # h: one HMAC block is qlen bits, so T = V
        v = _hmac(k, v)
        candidate = int.from_bytes(v, "big")
        if 1 <= candidate < order:
            return candidate
        k = _hmac(k, v + b"\x00")
        v = _hmac(k, v)


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, "sha256")


_P256_IDENTITY: Point = 0 * P256.G
_SEC1_EVEN, _SEC1_ODD = 0x02, 0x03


class _P256Group(_Group[Point]):
    suite_string = b"\x01"
    point_size = 33
    scalar_size = 32
    output_size = 32
    order = P256.q

    def hash(self, data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    def secret_scalar(self, secret: bytes) -> int:
        _check_secret_size(secret)
        x = int.from_bytes(secret, "big")
        if not 1 <= x < self.order:
            raise InvalidKeyMaterial("P-256 VRF secret scalar is out of range [1, q-1]")
        return x

    def nonce(self, secret: bytes, x: int, h_string: bytes) -> int:
        return rfc6979_nonce(x, h_string)

    def base_mul(self, scalar: int) -> Point:
        # Fixed-base products (x·B, k·B, s·B) go through OpenSSL: a tenth of fastecdsa's time, and
        # constant-time for the secret scalars x and k. OpenSSL refuses 0, whose product is O.
        scalar %= self.order
        if scalar == 0:
            return _P256_IDENTITY
        numbers = ec.derive_private_key(scalar, ec.SECP256R1()).public_key().public_numbers()
        return Point(numbers.x, numbers.y, curve=P256)

    def mul(self, scalar: int, point: Point) -> Point:
        return scalar * point

    def sub(self, a: Point, b: Point) -> Point:
        return a - b

    def clear_cofactor(self, point: Point) -> Point:
        return point  # cofactor 1

    def encode(self, point: Point) -> bytes:
        # SEC 1 §2.3.3 with compression. The identity (a single 0x00 octet) only reaches the
        # challenge hash as U or V of a crafted proof, and is hashed as the RFC hashes it.
        if point == _P256_IDENTITY:
            return b"\x00"
        prefix = _SEC1_ODD if point.y & 1 else _SEC1_EVEN
        return bytes([prefix]) + point.x.to_bytes(32, "big")

    def decode(self, data: bytes) -> Point | None:
        # OpenSSL decompresses and rejects x ≥ p and x with no square root (SEC 1 §2.3.4). A
        # 33-byte compressed point is never the identity, so validate_key (§5.4.5) always passes.
        if len(data) != self.point_size or data[0] not in (_SEC1_EVEN, _SEC1_ODD):
            return None
        try:
            numbers = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), data).public_numbers()
        except ValueError:
            return None
        return Point(numbers.x, numbers.y, curve=P256)

    def hash_to_point(self, hash_string: bytes) -> Point | None:
        # §5.5: arbitrary_string_to_point(h) = string_to_point(0x02 || h), which has an even y.
        return self.decode(bytes([_SEC1_EVEN]) + hash_string)

    def string_to_int(self, data: bytes) -> int:
        return int.from_bytes(data, "big")

    def int_to_string(self, value: int, size: int) -> bytes:
        return value.to_bytes(size, "big")


# --- ECVRF-EDWARDS25519-SHA512-TAI ----------------------------------------------------------------

#: The field prime p and the prime order q of the base point (RFC 8032 §5.1).
_ED_P = 2**255 - 19
_ED_ORDER = 2**252 + 27742317777372353535851937790883648493
#: RFC 8032 encoding of the neutral element (0, 1).
_ED_IDENTITY = (1).to_bytes(32, "little")
_ED_Y_MASK = (1 << 255) - 1  # the top bit of an encoding is the sign of x


class _Edwards25519Group(_Group[bytes]):
    """Points are kept as their canonical 32-byte encodings, libsodium's own representation."""

    suite_string = b"\x03"
    point_size = 32
    scalar_size = 32
    output_size = 64
    order = _ED_ORDER

    def hash(self, data: bytes) -> bytes:
        return hashlib.sha512(data).digest()

    def secret_scalar(self, secret: bytes) -> int:
        # RFC 8032 §5.1.5 steps 1-3: prune the low half of SHA-512(SK).
        _check_secret_size(secret)
        pruned = bytearray(hashlib.sha512(secret).digest()[:32])
        pruned[0] &= 0xF8
        pruned[31] &= 0x7F
        pruned[31] |= 0x40
        return int.from_bytes(pruned, "little")

    def nonce(self, secret: bytes, x: int, h_string: bytes) -> int:
        # §5.4.2.2: k = SHA-512(high half of SHA-512(SK) || h_string) mod q, little-endian.
        prefix = hashlib.sha512(secret).digest()[32:]
        return int.from_bytes(hashlib.sha512(prefix + h_string).digest(), "little") % self.order

    def base_mul(self, scalar: int) -> bytes:
        scalar %= self.order
        if scalar == 0:  # libsodium refuses a zero scalar; 0·B is the identity
            return _ED_IDENTITY
        return sodium.crypto_scalarmult_ed25519_base_noclamp(scalar.to_bytes(32, "little"))

    def mul(self, scalar: int, point: bytes) -> bytes:
        # Reducing mod q is exact because every point multiplied has order q (decode guarantees it
        # for Y and Gamma, cofactor clearing for H), and libsodium ignores bit 255 of a scalar.
        scalar %= self.order
        if scalar == 0:
            return _ED_IDENTITY
        return sodium.crypto_scalarmult_ed25519_noclamp(scalar.to_bytes(32, "little"), point)

    def sub(self, a: bytes, b: bytes) -> bytes:
        return sodium.crypto_core_ed25519_sub(a, b)

    def clear_cofactor(self, point: bytes) -> bytes:
        # 8·P by three doublings. crypto_core_ed25519_add accepts any curve point, including the
        # mixed-order points that try_and_increment produces, where the scalar multiplication would not.
        for _ in range(3):
            point = sodium.crypto_core_ed25519_add(point, point)
        return point

    def encode(self, point: bytes) -> bytes:
        return point

    def decode(self, data: bytes) -> bytes | None:
        # Canonical, on the curve, not of small order, in the prime-order subgroup: see the module
        # docstring for why this is stricter than RFC 8032 decoding plus validate_key.
        if len(data) != self.point_size or not sodium.crypto_core_ed25519_is_valid_point(data):
            return None
        return data

    def hash_to_point(self, hash_string: bytes) -> bytes | None:
        candidate = hash_string[:32]  # §5.5: string_to_point(h_string[0..31])
        # RFC 8032 §5.1.3 step 1 fails for y ≥ p; libsodium would reduce y mod p instead.
        if int.from_bytes(candidate, "little") & _ED_Y_MASK >= _ED_P:
            return None
        try:
            point = self.clear_cofactor(candidate)
        except nacl.exceptions.RuntimeError:  # no x for this y: not a curve point
            return None
        # A small-order candidate (including x = 0 with the sign bit set, which RFC 8032 rejects
        # and libsodium does not) lands on the identity: either way the counter moves on.
        return None if point == _ED_IDENTITY else point

    def string_to_int(self, data: bytes) -> int:
        return int.from_bytes(data, "little")

    def int_to_string(self, value: int, size: int) -> bytes:
        return value.to_bytes(size, "little")


def _check_secret_size(secret: bytes) -> None:
    if len(secret) != SECRET_SIZE:
        raise InvalidKeyMaterial(f"ECVRF secret key must be {SECRET_SIZE} bytes, got {len(secret)}")


_GROUPS: dict[Suite, _Group[Any]] = {
    Suite.P256_SHA256_TAI: _P256Group(),
    Suite.EDWARDS25519_SHA512_TAI: _Edwards25519Group(),
}


def _group(suite: Suite) -> _Group[Any]:
    try:
        return _GROUPS[Suite(suite)]
    except ValueError as e:
        raise InvalidInput(f"unknown ECVRF suite {suite!r}") from e


# --- RFC 9381 §5, generic over the suite ----------------------------------------------------------


def _encode_to_curve[P](group: _Group[P], salt: bytes, alpha: bytes) -> P:
    """ECVRF_encode_to_curve_try_and_increment (§5.4.1.1); salt is PK_string."""
    prefix = group.suite_string + _ENCODE_TO_CURVE_FRONT + salt + alpha
    for ctr in range(_MAX_TRIES):
        point = group.hash_to_point(group.hash(prefix + bytes([ctr]) + _BACK))
        if point is not None:
            return point
    # Each try fails with probability about 1/2, so this is about 2^-256.
    raise InvalidInput("try_and_increment found no curve point for this input")


def _challenge[P](group: _Group[P], *points: P) -> int:
    """ECVRF_challenge_generation (§5.4.3) over (Y, H, Gamma, U, V)."""
    data = group.suite_string + _CHALLENGE_FRONT + b"".join(map(group.encode, points)) + _BACK
    return group.string_to_int(group.hash(data)[:CHALLENGE_SIZE])


def _decode_proof[P](group: _Group[P], pi: bytes) -> tuple[P, int, int]:
    """ECVRF_decode_proof (§5.4.4): pi = Gamma || c || s, with s < q."""
    if len(pi) != group.proof_size:
        raise InvalidProof(f"ECVRF proof must be {group.proof_size} bytes, got {len(pi)}")
    gamma = group.decode(pi[: group.point_size])
    if gamma is None:
        raise InvalidProof("ECVRF proof Gamma is not a valid point")
    c = group.string_to_int(pi[group.point_size : group.point_size + CHALLENGE_SIZE])
    s = group.string_to_int(pi[group.point_size + CHALLENGE_SIZE :])
    if s >= group.order:
        raise InvalidProof("ECVRF proof scalar s is not below the group order")
    return gamma, c, s


def _gamma_to_hash[P](group: _Group[P], gamma: P) -> bytes:
    """§5.2 steps 4-6: beta = Hash(suite_string || 0x03 || point_to_string(cofactor·Gamma) || 0x00)."""
    encoded = group.encode(group.clear_cofactor(gamma))
    return group.hash(group.suite_string + _PROOF_TO_HASH_FRONT + encoded + _BACK)


def _prove[P](group: _Group[P], secret: bytes, alpha: bytes) -> bytes:
    """ECVRF_prove (§5.1)."""
    x = group.secret_scalar(secret)
    y = group.base_mul(x)
    h = _encode_to_curve(group, group.encode(y), alpha)
    gamma = group.mul(x, h)
    k = group.nonce(secret, x, group.encode(h))
    c = _challenge(group, y, h, gamma, group.base_mul(k), group.mul(k, h))
    s = (k + c * x) % group.order
    return (
        group.encode(gamma)
        + group.int_to_string(c, CHALLENGE_SIZE)
        + group.int_to_string(s, group.scalar_size)
    )


def _verify[P](group: _Group[P], public: bytes, pi: bytes, alpha: bytes) -> bytes:
    """ECVRF_verify (§5.3) with validate_key = TRUE."""
    y = group.decode(public)
    if y is None:
        raise InvalidProof("ECVRF public key is not a valid point")
    gamma, c, s = _decode_proof(group, pi)
    try:
        h = _encode_to_curve(group, public, alpha)
    except InvalidInput as e:  # probability about 2^-256
        raise InvalidProof("no curve point for this input") from e
    u = group.sub(group.base_mul(s), group.mul(c, y))
    v = group.sub(group.mul(s, h), group.mul(c, gamma))
    if _challenge(group, y, h, gamma, u, v) != c:
        raise InvalidProof("ECVRF proof does not verify for this public key and input")
    return _gamma_to_hash(group, gamma)


# --- public API -----------------------------------------------------------------------------------


def proof_size(suite: Suite) -> int:
    """Length of pi_string: 81 bytes for P-256, 80 for edwards25519."""
    return _group(suite).proof_size


def output_size(suite: Suite) -> int:
    """Length of beta_string: 32 bytes for P-256, 64 for edwards25519."""
    return _group(suite).output_size


def public_key_size(suite: Suite) -> int:
    """Length of PK_string: 33 bytes (SEC 1 compressed) for P-256, 32 for edwards25519."""
    return _group(suite).point_size


def public_key(suite: Suite, secret: bytes) -> bytes:
    """PK_string = point_to_string(x·B); raises :class:`InvalidKeyMaterial` for a bad secret."""
    group = _group(suite)
    return group.encode(group.base_mul(group.secret_scalar(secret)))


def prove(suite: Suite, secret: bytes, alpha: bytes) -> bytes:
    """pi_string for ``alpha`` under ``secret`` (§5.1); deterministic."""
    return _prove(_group(suite), secret, alpha)


def proof_to_hash(suite: Suite, pi: bytes) -> bytes:
    """beta_string of ``pi`` (§5.2) without verifying it; raises :class:`InvalidProof` when ``pi``
    does not decode. Use :func:`verify` unless ``pi`` is known to be valid (e.g. just proved)."""
    group = _group(suite)
    gamma, _, _ = _decode_proof(group, pi)
    return _gamma_to_hash(group, gamma)


def verify(suite: Suite, public_key: bytes, pi: bytes, alpha: bytes) -> bytes:
    """beta_string if ``pi`` proves ``alpha`` under ``public_key`` (§5.3); raises
    :class:`InvalidProof` for anything else: a key or proof that does not decode (wrong length,
    not a valid point, small order, s ≥ q) or a proof that does not verify."""
    return _verify(_group(suite), public_key, pi, alpha)

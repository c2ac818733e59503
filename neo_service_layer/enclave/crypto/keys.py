"""Key material: generation, validation and public-key derivation for every key type.

Private material is always 32 raw bytes:

- ``secp256r1`` / ``secp256k1``: the big-endian private scalar ``d`` with ``1 ≤ d < n`` (SEC 1 v2
  §2.3.6 / §3.2.1; FIPS 186-5 §6.2.1), validated by the curve library (OpenSSL via ``cryptography``
  for P-256, libsecp256k1 via ``coincurve`` for secp256k1), never by hand;
- ``ed25519``: the 32-byte seed of RFC 8032 §5.1.5 (every 32-byte string is a valid seed);
- ``aes256-gcm``: a 256-bit AES key (FIPS 197); ``hmac-sha256``: a 256-bit key (RFC 2104 §3: at
  least the hash output length ``L`` = 32 bytes);
- ``bls12381``: the big-endian Dodis-Yampolskiy VRF secret ``sk`` with ``1 ≤ sk < r``, the BLS12-381
  group order (validated by :mod:`.dyvrf`).

Public keys are SEC 1 §2.3.3 *compressed* points (33 bytes, prefix ``02``/``03``) for the EC types
and the 32-byte encoding of RFC 8032 §5.1.2 for ed25519. Inputs may also be uncompressed (65 bytes,
prefix ``04``); hybrid encodings (``06``/``07``) are rejected. ``bls12381`` public keys are compressed
G1 points (48 bytes, the ZCash serialization that Neo N3 CryptoLib deserializes), in the subgroup and
never the identity.

Fresh randomness comes from the OS CSPRNG (``os.urandom`` through the libraries and ``secrets``).
"""

from __future__ import annotations

import secrets
from typing import Final

import coincurve
import coincurve.utils
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from neo_service_layer.enclave.crypto import dyvrf
from neo_service_layer.enclave.crypto.errors import InvalidKeyMaterial, UnsupportedOperation
from neo_service_layer.enclave.crypto.keytypes import KeyType

#: Size in bytes of every private material (EC scalar, ed25519 seed, AES key, HMAC key).
MATERIAL_SIZE = 32
#: Size of a SEC 1 compressed point on a 256-bit curve.
COMPRESSED_POINT_SIZE = 33
#: Size of a SEC 1 uncompressed point on a 256-bit curve.
UNCOMPRESSED_POINT_SIZE = 65
#: Size of an RFC 8032 ed25519 public key.
ED25519_PUBLIC_KEY_SIZE = 32

#: Order n of the P-256 base point (NIST SP 800-186 §3.2.1.3; FIPS 186-5 refers to it). The test
#: suite proves it: OpenSSL accepts the scalar n-1 and rejects n.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
#: Order n of the secp256k1 base point (SEC 2 v2 §2.4.1), as libsecp256k1's binding exposes it.
SECP256K1_ORDER: int = coincurve.utils.GROUP_ORDER_INT


def curve_order(key_type: KeyType) -> int:
    """The group order ``n`` of an ECDSA key type (for range checks and low-s, never for point arithmetic)."""
    if key_type is KeyType.SECP256R1:
        return P256_ORDER
    if key_type is KeyType.SECP256K1:
        return SECP256K1_ORDER
    raise UnsupportedOperation(f"key type {key_type.value} is not an ECDSA curve")


def generate(key_type: KeyType) -> bytes:
    """Fresh private material (32 bytes) for ``key_type``."""
    match key_type:
        case KeyType.SECP256R1:
            private_value = ec.generate_private_key(ec.SECP256R1()).private_numbers().private_value
            return private_value.to_bytes(MATERIAL_SIZE, "big")
        case KeyType.SECP256K1:
            return coincurve.PrivateKey().secret
        case KeyType.ED25519:
            return Ed25519PrivateKey.generate().private_bytes_raw()
        case KeyType.AES256_GCM | KeyType.HMAC_SHA256:
            return secrets.token_bytes(MATERIAL_SIZE)
        case KeyType.BLS12381:
            return dyvrf.generate_secret()
    raise UnsupportedOperation(f"unknown key type {key_type!r}")  # pragma: no cover


def validate_material(key_type: KeyType, material: bytes) -> None:
    """Raise :class:`InvalidKeyMaterial` unless ``material`` is valid private material for ``key_type``."""
    _check_size(key_type, material)
    if key_type is KeyType.SECP256R1:
        p256_private_key(material)
    elif key_type is KeyType.SECP256K1:
        k1_private_key(material)
    elif key_type is KeyType.BLS12381:
        dyvrf.validate_secret(material)


#: A private key object of the signing library behind a key type (:func:`signing_key`).
type SigningKey = ec.EllipticCurvePrivateKey | coincurve.PrivateKey | Ed25519PrivateKey


def signing_key(key_type: KeyType, material: bytes) -> SigningKey | None:
    """The library's private key object for ``material`` (validating it), or None for a type that
    does not sign with one (symmetric keys, bls12381, whose VRF works on the bytes)."""
    match key_type:
        case KeyType.SECP256R1:
            return p256_private_key(material)
        case KeyType.SECP256K1:
            return k1_private_key(material)
        case KeyType.ED25519:
            return ed25519_private_key(material)
    return None


class LoadedKey:
    """Validated private material with its library key object and public key, each built once.

    Building the key object is most of a signature's cost on the EC curves (OpenSSL and libsecp256k1
    compute the public point when the key is made): a caller that uses one key many times keeps this
    rather than the bytes. Holds key material: its repr shows the type only.
    """

    __slots__ = ("key_type", "material", "public_key", "signer")

    def __init__(self, key_type: KeyType, material: bytes) -> None:
        """:class:`InvalidKeyMaterial` unless ``material`` is valid private material for ``key_type``."""
        self.key_type: Final = key_type
        self.material: Final = material
        self.signer: Final = signing_key(key_type, material)  # validates the EC and ed25519 types
        if self.signer is None:
            validate_material(key_type, material)
        self.public_key: Final = _public_of(key_type, self.signer, material)

    def __repr__(self) -> str:
        return f"LoadedKey({self.key_type.value}, material=**********)"


def _public_of(key_type: KeyType, signer: SigningKey | None, material: bytes) -> bytes | None:
    """The public key (as :func:`public_key` encodes it) from an already built key object."""
    if isinstance(signer, ec.EllipticCurvePrivateKey):
        return signer.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
        )
    if isinstance(signer, coincurve.PrivateKey):
        return signer.public_key.format(compressed=True)
    if isinstance(signer, Ed25519PrivateKey):
        return signer.public_key().public_bytes_raw()
    return dyvrf.public_key(material) if key_type is KeyType.BLS12381 else None


def public_key(key_type: KeyType, material: bytes) -> bytes:
    """The public key of ``material``: SEC 1 compressed (33 bytes) for EC, 32 bytes for ed25519,
    compressed G1 (48 bytes) for bls12381."""
    public = _public_of(key_type, signing_key(key_type, material), material)
    if public is None:
        raise UnsupportedOperation(f"key type {key_type.value} has no public key")
    return public


def normalize_public_key(key_type: KeyType, public: bytes) -> bytes:
    """Validate a public key and return its canonical encoding (compressed for EC and bls12381).

    Raises :class:`InvalidKeyMaterial` for a wrong length, a hybrid or unknown prefix, or a point not
    on the curve (including the point at infinity; for bls12381 also a point outside the subgroup).
    """
    match key_type:
        case KeyType.SECP256R1:
            return p256_public_key(public).public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
            )
        case KeyType.SECP256K1:
            return k1_public_key(public).format(compressed=True)
        case KeyType.ED25519:
            return ed25519_public_key(public).public_bytes_raw()
        case KeyType.BLS12381:
            dyvrf.validate_public_key(public)  # compressed is the only encoding, and it is unique
            return public
    raise UnsupportedOperation(f"key type {key_type.value} has no public key")


def uncompressed_public_key(key_type: KeyType, public: bytes) -> bytes:
    """The SEC 1 uncompressed encoding (``04 ‖ X ‖ Y``, 65 bytes) of an EC public key."""
    match key_type:
        case KeyType.SECP256R1:
            return p256_public_key(public).public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        case KeyType.SECP256K1:
            return k1_public_key(public).format(compressed=False)
    raise UnsupportedOperation(f"key type {key_type.value} has no SEC 1 point encoding")


# --- library key objects (for the other modules of this package) -----------------------------------


def _check_size(key_type: KeyType, material: bytes) -> None:
    if len(material) != MATERIAL_SIZE:
        raise InvalidKeyMaterial(
            f"{key_type.value} material must be {MATERIAL_SIZE} bytes, got {len(material)}"
        )


def _check_sec1_point(key_type: KeyType, public: bytes) -> None:
    compressed = len(public) == COMPRESSED_POINT_SIZE and public[0] in (0x02, 0x03)
    uncompressed = len(public) == UNCOMPRESSED_POINT_SIZE and public[0] == 0x04
    if not (compressed or uncompressed):
        raise InvalidKeyMaterial(
            f"{key_type.value} public key must be a SEC 1 compressed (33 bytes) or uncompressed "
            f"(65 bytes) point, got {len(public)} bytes"
        )


def p256_private_key(material: bytes) -> ec.EllipticCurvePrivateKey:
    """The ``cryptography`` private key of P-256 material (OpenSSL checks ``1 ≤ d < n``)."""
    _check_size(KeyType.SECP256R1, material)
    try:
        return ec.derive_private_key(int.from_bytes(material, "big"), ec.SECP256R1())
    except ValueError as e:
        raise InvalidKeyMaterial("secp256r1 private scalar is out of range [1, n-1]") from e


def p256_public_key(public: bytes) -> ec.EllipticCurvePublicKey:
    """The ``cryptography`` public key of a SEC 1 encoded P-256 point (OpenSSL checks it is on the curve)."""
    _check_sec1_point(KeyType.SECP256R1, public)
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public)
    except ValueError as e:
        raise InvalidKeyMaterial("secp256r1 public key is not a point on the curve") from e


def k1_private_key(material: bytes) -> coincurve.PrivateKey:
    """The ``coincurve`` private key of secp256k1 material (libsecp256k1 checks ``1 ≤ d < n``)."""
    _check_size(KeyType.SECP256K1, material)
    try:
        return coincurve.PrivateKey(material)
    except ValueError as e:
        raise InvalidKeyMaterial("secp256k1 private scalar is out of range [1, n-1]") from e


def k1_public_key(public: bytes) -> coincurve.PublicKey:
    """The ``coincurve`` public key of a SEC 1 encoded secp256k1 point (libsecp256k1 checks it)."""
    _check_sec1_point(KeyType.SECP256K1, public)
    try:
        return coincurve.PublicKey(public)
    except ValueError as e:
        raise InvalidKeyMaterial("secp256k1 public key is not a point on the curve") from e


def ed25519_private_key(material: bytes) -> Ed25519PrivateKey:
    """The ``cryptography`` ed25519 private key of a 32-byte RFC 8032 seed."""
    _check_size(KeyType.ED25519, material)
    return Ed25519PrivateKey.from_private_bytes(material)


def ed25519_public_key(public: bytes) -> Ed25519PublicKey:
    """The ``cryptography`` ed25519 public key of a 32-byte RFC 8032 encoding."""
    if len(public) != ED25519_PUBLIC_KEY_SIZE:
        raise InvalidKeyMaterial(
            f"ed25519 public key must be {ED25519_PUBLIC_KEY_SIZE} bytes, got {len(public)}"
        )
    try:
        return Ed25519PublicKey.from_public_bytes(public)
    except ValueError as e:  # pragma: no cover - OpenSSL decodes lazily and accepts any 32 bytes
        raise InvalidKeyMaterial("ed25519 public key is not a valid encoding") from e

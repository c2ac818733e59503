"""The enclave's identity: a secp256r1 key (Neo N3) and a secp256k1 key (EVM), generated inside it,
and an X25519 transport key that clients seal secret values to (docs/enclave.md §3, docs/secrets.md).

The private halves exist only in this process and, sealed, in the state file (``state.py``). The
transport key is not stored: it is derived from the two identity scalars with HKDF-SHA256 (RFC 5869;
ikm = p256 scalar ‖ k1 scalar, no salt, info ``nsl-transport-x25519-v1``), so every enclave start
that unseals the same identity has the same transport key, and existing state files need no change.
HKDF's info string separates it from every other use of the scalars (``Identity.derive``: the
platform's chain VRF keys, the randomness nonce key).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import coincurve
import nacl.exceptions
import nacl.public
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from neo_service_layer.enclave import signing

SCALAR_BYTES = 32
X25519_BYTES = 32
TRANSPORT_KEY_INFO = b"nsl-transport-x25519-v1"


class TransportUnsealFailed(ValueError):
    """A sealed box that does not open with the transport key (not for us, altered, or truncated)."""


def _hkdf(p256_scalar: bytes, k1_secret: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(
        p256_scalar + k1_secret
    )


def derive_transport_key(p256_scalar: bytes, k1_secret: bytes) -> nacl.public.PrivateKey:
    """The X25519 transport key of an identity (module docstring)."""
    return nacl.public.PrivateKey(_hkdf(p256_scalar, k1_secret, TRANSPORT_KEY_INFO, X25519_BYTES))


@dataclass(frozen=True, slots=True)
class IdentityPublic:
    """The public identity: compressed SEC 1 keys, the k1 key's EVM address, the X25519 transport key."""

    p256: bytes
    k1: bytes
    k1_address: str
    x25519: bytes


@dataclass(frozen=True, slots=True)
class SignaturePair:
    p256: bytes  # r ‖ s
    k1: bytes  # r ‖ s ‖ v


class Identity:
    """The identity keys. Holds private keys: its repr is masked, and it is never serialized but sealed."""

    __slots__ = ("_k1", "_p256", "_transport", "public")

    def __init__(self, p256: ec.EllipticCurvePrivateKey, k1: coincurve.PrivateKey) -> None:
        if not isinstance(p256.curve, ec.SECP256R1):
            raise ValueError("the N3 identity key must be on secp256r1")
        self._p256 = p256
        self._k1 = k1
        p256_scalar = p256.private_numbers().private_value.to_bytes(SCALAR_BYTES, "big")
        self._transport = derive_transport_key(p256_scalar, k1.secret)
        k1_public = signing.k1_public_bytes(k1.public_key)
        self.public = IdentityPublic(
            p256=signing.p256_public_bytes(p256.public_key()),
            k1=k1_public,
            k1_address=signing.evm_address(k1_public),
            x25519=bytes(self._transport.public_key),
        )

    @classmethod
    def generate(cls) -> Identity:
        """Fresh keys from the OS CSPRNG (inside a TEE, the enclave's own randomness source)."""
        return cls(ec.generate_private_key(ec.SECP256R1()), coincurve.PrivateKey(os.urandom(SCALAR_BYTES)))

    @classmethod
    def from_secrets(cls, p256_scalar: bytes, k1_secret: bytes) -> Identity:
        """Rebuild from the 32-byte private scalars; ValueError if either is out of range."""
        if len(p256_scalar) != SCALAR_BYTES or len(k1_secret) != SCALAR_BYTES:
            raise ValueError("identity private keys are 32 bytes each")
        scalar = int.from_bytes(p256_scalar, "big")
        if not 0 < scalar < signing.P256_ORDER:
            raise ValueError("P-256 private scalar out of range")
        try:
            k1 = coincurve.PrivateKey(k1_secret)
        except Exception as exc:  # coincurve raises ValueError or plain Exception for an invalid scalar
            raise ValueError("secp256k1 private key out of range") from exc
        return cls(ec.derive_private_key(scalar, ec.SECP256R1()), k1)

    def derive(self, info: bytes, length: int) -> bytes:
        """``length`` bytes of HKDF-SHA256 over the identity scalars (ikm = p256 ‖ k1, no salt; RFC 5869).

        For keys the enclave must have again after every restart without storing them (the transport
        key, the platform's chain VRF keys, the randomness nonce key): ``info`` names the use and keeps
        the outputs of different uses independent.
        """
        p256, k1 = self.secrets()
        return _hkdf(p256, k1, info, length)

    def secrets(self) -> tuple[bytes, bytes]:
        """The private scalars, only for sealing them into the state file and for :meth:`derive`."""
        p256 = self._p256.private_numbers().private_value.to_bytes(SCALAR_BYTES, "big")
        return p256, self._k1.secret

    def sign(self, message: bytes) -> SignaturePair:
        """Both signatures over ``message`` (docs/enclave.md §3)."""
        return SignaturePair(
            p256=signing.p256_sign(self._p256, message), k1=signing.k1_sign(self._k1, message)
        )

    def open_sealed_box(self, sealed: bytes) -> bytes:
        """The plaintext of a libsodium sealed box made for the transport key (``crypto_box_seal``).

        :class:`TransportUnsealFailed` if it was sealed to another key, altered or truncated.
        """
        try:
            return nacl.public.SealedBox(self._transport).decrypt(sealed)
        except nacl.exceptions.CryptoError as exc:
            raise TransportUnsealFailed("the sealed box does not open with the transport key") from exc

    def __repr__(self) -> str:
        public = self.public
        return f"Identity(p256={public.p256.hex()}, k1_address={public.k1_address}, private=**********)"

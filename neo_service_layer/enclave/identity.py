"""The enclave's identity: a secp256r1 key (Neo N3) and a secp256k1 key (EVM), generated inside it.

The private halves exist only in this process and, sealed, in the state file (``state.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import coincurve
from cryptography.hazmat.primitives.asymmetric import ec

from neo_service_layer.enclave import signing

SCALAR_BYTES = 32


@dataclass(frozen=True, slots=True)
class IdentityPublic:
    """The public identity: compressed SEC 1 keys and the k1 key's EVM address."""

    p256: bytes
    k1: bytes
    k1_address: str


@dataclass(frozen=True, slots=True)
class SignaturePair:
    p256: bytes  # r ‖ s
    k1: bytes  # r ‖ s ‖ v


class Identity:
    """Both identity keys. Holds private keys: its repr is masked, and it is never serialized but sealed."""

    __slots__ = ("_k1", "_p256", "public")

    def __init__(self, p256: ec.EllipticCurvePrivateKey, k1: coincurve.PrivateKey) -> None:
        if not isinstance(p256.curve, ec.SECP256R1):
            raise ValueError("the N3 identity key must be on secp256r1")
        self._p256 = p256
        self._k1 = k1
        k1_public = signing.k1_public_bytes(k1.public_key)
        self.public = IdentityPublic(
            p256=signing.p256_public_bytes(p256.public_key()),
            k1=k1_public,
            k1_address=signing.evm_address(k1_public),
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

    def secrets(self) -> tuple[bytes, bytes]:
        """The private scalars, only for sealing them into the state file."""
        p256 = self._p256.private_numbers().private_value.to_bytes(SCALAR_BYTES, "big")
        return p256, self._k1.secret

    def sign(self, message: bytes) -> SignaturePair:
        """Both signatures over ``message`` (docs/enclave.md §3)."""
        return SignaturePair(
            p256=signing.p256_sign(self._p256, message), k1=signing.k1_sign(self._k1, message)
        )

    def __repr__(self) -> str:
        public = self.public
        return f"Identity(p256={public.p256.hex()}, k1_address={public.k1_address}, private=**********)"

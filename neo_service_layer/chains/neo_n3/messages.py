"""The bytes NSLGateway on Neo N3 verifies — built the same way in Python (pure functions, no I/O).

All integers are little-endian (NeoVM's byte order), the gateway hash is the 20-byte ``UInt160`` as N3
serializes it (little-endian, i.e. ``UInt160.to_array()``, the reverse of the ``0x…`` display form), and
each format starts with a versioned ASCII tag, so a signature is valid for one network, one gateway and
one request only (docs/chains-neo-n3.md):

- fulfilment message (signed by the enclave, ECDSA secp256r1 over its SHA-256, raw ``r ‖ s``; verified
  on chain by ``CryptoLib.verifyWithECDsa(message, pubkey, signature, secp256r1SHA256)``, which hashes
  the message itself)::

      "NSL-N3-FULFIL-V1" ‖ magic (u32) ‖ gateway (20) ‖ request id (u64) ‖ SHA-256(result)      -- 80 bytes

- VRF input of a randomness request::

      alpha = "NSL-N3-DYVRF-ALPHA-V1" ‖ magic (u32) ‖ gateway (20) ‖ request id (u64) ‖ SHA-256(payload)
      x     = int_be(SHA-256(alpha)) mod 2^254                      (dyvrf.alpha_to_scalar)

- randomness result: ``beta (32) ‖ pi (compressed G2, 96) ‖ x (32, little-endian)`` with
  ``pi = dyvrf.prove(sk, alpha)`` and ``beta = SHA-256(pi)``;
- price result: the price as a NeoVM integer (minimal little-endian two's complement), 8 decimals.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from neo_service_layer.chains.neo_n3.errors import InvalidN3Message
from neo_service_layer.enclave.crypto import dyvrf

FULFIL_TAG = b"NSL-N3-FULFIL-V1"
ALPHA_TAG = b"NSL-N3-DYVRF-ALPHA-V1"
#: Service names the gateway and the example consumers use.
RANDOMNESS = "randomness"
ORACLE = "oracle"
PRICE_FEED = "price-feed"
HASH160_SIZE = 20
BETA_SIZE = 32
RANDOMNESS_RESULT_SIZE = BETA_SIZE + dyvrf.PROOF_SIZE + dyvrf.SCALAR_SIZE
FULFIL_MESSAGE_SIZE = len(FULFIL_TAG) + 4 + HASH160_SIZE + 8 + 32
#: Decimals of a price result (an integer price p means p / 10^8).
PRICE_DECIMALS = 8


class RandomnessResult(NamedTuple):
    """The parts of a randomness result."""

    beta: bytes  #: the VRF output, SHA-256(pi)
    pi: bytes  #: the DY-VRF proof, compressed G2 (96 bytes)
    x_le: bytes  #: the VRF input scalar, 32 bytes little-endian


def _u32(value: int) -> bytes:
    try:
        return value.to_bytes(4, "little")
    except OverflowError as e:
        raise InvalidN3Message(f"{value} is not a uint32") from e


def _u64(value: int) -> bytes:
    try:
        return value.to_bytes(8, "little")
    except OverflowError as e:
        raise InvalidN3Message(f"{value} is not a uint64") from e


def _hash160(gateway: bytes) -> bytes:
    if len(gateway) != HASH160_SIZE:
        raise InvalidN3Message(
            f"gateway hash must be {HASH160_SIZE} bytes (UInt160.to_array()), got {len(gateway)}"
        )
    return gateway


def fulfilment_message(magic: int, gateway: bytes, request_id: int, result: bytes) -> bytes:
    """The 80 bytes the enclave signs to fulfil ``request_id`` with ``result`` (gateway: 20 bytes LE)."""
    return FULFIL_TAG + _u32(magic) + _hash160(gateway) + _u64(request_id) + hashlib.sha256(result).digest()


def randomness_alpha(magic: int, gateway: bytes, request_id: int, payload: bytes) -> bytes:
    """The DY-VRF input of a randomness request, as the gateway derives it on chain."""
    return ALPHA_TAG + _u32(magic) + _hash160(gateway) + _u64(request_id) + hashlib.sha256(payload).digest()


def randomness_result(pi: bytes, alpha: bytes) -> bytes:
    """``beta ‖ pi ‖ x_le`` for a proof of ``alpha`` (beta and x computed here from pi and alpha)."""
    if len(pi) != dyvrf.PROOF_SIZE:
        raise InvalidN3Message(f"pi must be {dyvrf.PROOF_SIZE} bytes (compressed G2)")
    beta = hashlib.sha256(pi).digest()
    return beta + pi + dyvrf.neo_scalar_le(dyvrf.alpha_to_scalar(alpha))


def split_randomness_result(result: bytes) -> RandomnessResult:
    """The parts of a 160-byte randomness result."""
    if len(result) != RANDOMNESS_RESULT_SIZE:
        raise InvalidN3Message(f"a randomness result is {RANDOMNESS_RESULT_SIZE} bytes, got {len(result)}")
    end_pi = BETA_SIZE + dyvrf.PROOF_SIZE
    return RandomnessResult(result[:BETA_SIZE], result[BETA_SIZE:end_pi], result[end_pi:])


def price_result(price: int) -> bytes:
    """A price as the NeoVM integer bytes ``to_int`` reads back: minimal little-endian two's complement."""
    if price == 0:
        return b""  # NeoVM's encoding of 0 is the empty byte string
    size = (price + (price < 0)).bit_length() // 8 + 1
    return price.to_bytes(size, "little", signed=True)

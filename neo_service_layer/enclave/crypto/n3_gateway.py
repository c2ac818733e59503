"""The Neo N3 NSLGateway's signed and proved byte strings (docs/chains-neo-n3.md), built inside the enclave.

The enclave imports no package code outside its measured files (docs/enclave.md §4), so the builders live
here and ``chains.neo_n3.messages`` (the host side) wraps them: one implementation for both. All integers
are little-endian (NeoVM's order); the gateway hash is the 20-byte ``UInt160`` as N3 serializes it
(little-endian, ``UInt160.to_array()``):

- fulfilment message: ``"NSL-N3-FULFIL-V2" ‖ magic (u32) ‖ gateway (20) ‖ request id (u64) ‖
  SHA-256(payload) (32) ‖ VRF key version (u32) ‖ SHA-256(VRF public key) (32) ‖ SHA-256(result)``
  (148 bytes), signed with ECDSA secp256r1 over its SHA-256, raw ``r ‖ s`` — what
  ``CryptoLib.verifyWithECDsa(message, pubkey, signature, secp256r1SHA256)`` checks (it hashes itself).
  The payload hash and key version are the ones the gateway stored with the request and the key hash
  is that of the key it registered under that version (zero version and hash for services without a
  VRF key): the gateway rebuilds the message from its storage, so one request has exactly one
  acceptable randomness result;
- VRF input: ``alpha = "NSL-N3-DYVRF-ALPHA-V1" ‖ magic (u32) ‖ gateway (20) ‖ request id (u64) ‖
  SHA-256(payload)``;
- randomness result: ``beta (32) ‖ pi (compressed G2, 96) ‖ x (32, little-endian)``, ``beta = SHA-256(pi)``,
  ``x = dyvrf.alpha_to_scalar(alpha)``.

The tags keep these apart from every other message the identity key signs (result envelopes carry
``NSL-RESULT-V1``, the EVM gateway ``NSL-FULFIL-V1``).
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from neo_service_layer.enclave.crypto import dyvrf
from neo_service_layer.enclave.crypto.errors import InvalidInput

FULFIL_TAG = b"NSL-N3-FULFIL-V2"
ALPHA_TAG = b"NSL-N3-DYVRF-ALPHA-V1"
HASH160_SIZE = 20
BETA_SIZE = 32
RANDOMNESS_RESULT_SIZE = BETA_SIZE + dyvrf.PROOF_SIZE + dyvrf.SCALAR_SIZE
HASH_SIZE = 32


class RandomnessResult(NamedTuple):
    """The parts of a randomness result."""

    beta: bytes  #: the VRF output, SHA-256(pi)
    pi: bytes  #: the DY-VRF proof, compressed G2 (96 bytes)
    x_le: bytes  #: the VRF input scalar, 32 bytes little-endian


def _u32(value: int) -> bytes:
    try:
        return value.to_bytes(4, "little")
    except OverflowError as e:
        raise InvalidInput(f"{value} is not a uint32") from e


def _u64(value: int) -> bytes:
    try:
        return value.to_bytes(8, "little")
    except OverflowError as e:
        raise InvalidInput(f"{value} is not a uint64") from e


def _hash160(gateway: bytes) -> bytes:
    if len(gateway) != HASH160_SIZE:
        raise InvalidInput(
            f"gateway hash must be {HASH160_SIZE} bytes (UInt160.to_array()), got {len(gateway)}"
        )
    return gateway


def fulfilment_message(
    magic: int,
    gateway: bytes,
    request_id: int,
    *,
    payload_hash: bytes,
    vrf_key_version: int,
    vrf_key_hash: bytes,
    result: bytes,
) -> bytes:
    """The 148 bytes the enclave signs to fulfil ``request_id`` with ``result`` (gateway: 20 bytes LE)."""
    if len(payload_hash) != HASH_SIZE or len(vrf_key_hash) != HASH_SIZE:
        raise InvalidInput(f"payload and key hashes are {HASH_SIZE} bytes")
    return (
        FULFIL_TAG
        + _u32(magic)
        + _hash160(gateway)
        + _u64(request_id)
        + payload_hash
        + _u32(vrf_key_version)
        + vrf_key_hash
        + hashlib.sha256(result).digest()
    )


def vrf_key_hash(public_key: bytes) -> bytes:
    """SHA-256 of a compressed VRF public key: what the gateway compares per registered version."""
    return hashlib.sha256(public_key).digest()


def randomness_alpha(magic: int, gateway: bytes, request_id: int, payload: bytes) -> bytes:
    """The DY-VRF input of a randomness request, as the gateway derives it on chain."""
    return ALPHA_TAG + _u32(magic) + _hash160(gateway) + _u64(request_id) + hashlib.sha256(payload).digest()


def randomness_result(pi: bytes, alpha: bytes) -> bytes:
    """``beta ‖ pi ‖ x_le`` for a proof of ``alpha`` (beta and x computed here from pi and alpha)."""
    if len(pi) != dyvrf.PROOF_SIZE:
        raise InvalidInput(f"pi must be {dyvrf.PROOF_SIZE} bytes (compressed G2)")
    beta = hashlib.sha256(pi).digest()
    return beta + pi + dyvrf.neo_scalar_le(dyvrf.alpha_to_scalar(alpha))


def split_randomness_result(result: bytes) -> RandomnessResult:
    """The parts of a 160-byte randomness result."""
    if len(result) != RANDOMNESS_RESULT_SIZE:
        raise InvalidInput(f"a randomness result is {RANDOMNESS_RESULT_SIZE} bytes, got {len(result)}")
    end_pi = BETA_SIZE + dyvrf.PROOF_SIZE
    return RandomnessResult(result[:BETA_SIZE], result[BETA_SIZE:end_pi], result[end_pi:])

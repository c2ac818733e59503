"""The NSLGateway's signed and proved byte strings, built inside the enclave (docs/chains-evm.md).

The enclave never signs a digest handed in by the host: it rebuilds these preimages from structured
fields (chain id, gateway address, request, VRF key, result) and signs them itself. They are the same
bytes as ``chains.evm.messages`` builds on the host (a test compares the two); they live here again
because the enclave process imports no package code outside its measured files (docs/enclave.md §4).

- fulfilment preimage: ``"NSL-FULFIL-V2" ‖ chainid (32) ‖ gateway (20) ‖ requestId (32) ‖
  payloadHash (32) ‖ vrfKeyVersion (4) ‖ vrfKeyHash (32) ‖ keccak256(result) (32)``; the gateway's
  digest is ``keccak256`` of it, which is what the identity's secp256k1 key signs (``signing.k1_sign``
  hashes with keccak256). ``payloadHash`` and ``vrfKeyVersion`` are what the gateway stored with the
  request, ``vrfKeyHash`` is ``keccak256`` of the EIP-2537 public key the gateway registered under that
  version (both zero for services without a VRF key): the gateway rebuilds the digest from its own
  storage, so a signature over another payload or another key never verifies — one request has
  exactly one acceptable randomness result;
- VRF input: ``alpha = "NSL-DYVRF-ALPHA-V1" ‖ chainid (32) ‖ gateway (20) ‖ requestId (32) ‖
  payloadHash (32)`` with ``payloadHash = keccak256(payload)``, as the gateway stores it.

The tags keep these apart from every other message the identity key signs (result envelopes carry
``NSL-RESULT-V1``, docs/enclave.md §3): no preimage of one kind is a preimage of another.
"""

from __future__ import annotations

from neo_service_layer.enclave.crypto.errors import InvalidInput
from neo_service_layer.enclave.crypto.hashing import keccak256

FULFIL_TAG = b"NSL-FULFIL-V2"
ALPHA_TAG = b"NSL-DYVRF-ALPHA-V1"
WORD_SIZE = 32
ADDRESS_SIZE = 20
MAX_CHAIN_ID = 2**256 - 1
MAX_KEY_VERSION = 2**32 - 1
NO_VRF_KEY = bytes(WORD_SIZE)


def _check(chain_id: int, gateway: bytes, request_id: bytes, last: bytes) -> None:
    if not 0 < chain_id <= MAX_CHAIN_ID:
        raise InvalidInput("chain id out of range")
    if len(gateway) != ADDRESS_SIZE:
        raise InvalidInput(f"a gateway address is {ADDRESS_SIZE} bytes")
    if len(request_id) != WORD_SIZE or len(last) != WORD_SIZE:
        raise InvalidInput(f"request id and hashes are {WORD_SIZE} bytes")


def fulfilment_preimage(
    chain_id: int,
    gateway: bytes,
    request_id: bytes,
    *,
    payload_hash: bytes,
    vrf_key_version: int,
    vrf_key_hash: bytes,
    result: bytes,
) -> bytes:
    """What the identity key signs (keccak256 of it) to fulfil ``request_id`` with ``result``."""
    result_hash = keccak256(result)
    _check(chain_id, gateway, request_id, result_hash)
    if len(payload_hash) != WORD_SIZE or len(vrf_key_hash) != WORD_SIZE:
        raise InvalidInput(f"payload and key hashes are {WORD_SIZE} bytes")
    if not 0 <= vrf_key_version <= MAX_KEY_VERSION:
        raise InvalidInput("VRF key version is not a uint32")
    return (
        FULFIL_TAG
        + chain_id.to_bytes(WORD_SIZE, "big")
        + gateway
        + request_id
        + payload_hash
        + vrf_key_version.to_bytes(4, "big")
        + vrf_key_hash
        + result_hash
    )


def vrf_key_hash(public_key_eip2537: bytes) -> bytes:
    """``keccak256`` of a VRF public key in its EIP-2537 G1 form: what the gateway keeps per version."""
    return keccak256(public_key_eip2537)


def randomness_alpha(chain_id: int, gateway: bytes, request_id: bytes, payload_hash: bytes) -> bytes:
    """The gateway's ``randomnessAlpha(requestId)`` from the stored ``keccak256(payload)``."""
    _check(chain_id, gateway, request_id, payload_hash)
    return ALPHA_TAG + chain_id.to_bytes(WORD_SIZE, "big") + gateway + request_id + payload_hash

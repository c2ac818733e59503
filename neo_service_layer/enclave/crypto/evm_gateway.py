"""The NSLGateway's signed and proved byte strings, built inside the enclave (docs/chains-evm.md).

The enclave never signs a digest handed in by the host: it rebuilds these preimages from structured
fields (chain id, gateway address, request id, result) and signs them itself. They are the same bytes
as ``chains.evm.messages`` builds on the host (a test compares the two); they live here again because
the enclave process imports no package code outside its measured files (docs/enclave.md §4).

- fulfilment preimage: ``"NSL-FULFIL-V1" ‖ chainid (32) ‖ gateway (20) ‖ requestId (32) ‖
  keccak256(result) (32)``; the gateway's digest is ``keccak256`` of it, which is what the identity's
  secp256k1 key signs (``signing.k1_sign`` hashes with keccak256);
- VRF input: ``alpha = "NSL-DYVRF-ALPHA-V1" ‖ chainid (32) ‖ gateway (20) ‖ requestId (32) ‖
  payloadHash (32)`` with ``payloadHash = keccak256(payload)``, as the gateway stores it.

The tags keep these apart from every other message the identity key signs (result envelopes carry
``NSL-RESULT-V1``, docs/enclave.md §3): no preimage of one kind is a preimage of another.
"""

from __future__ import annotations

from neo_service_layer.enclave.crypto.errors import InvalidInput
from neo_service_layer.enclave.crypto.hashing import keccak256

FULFIL_TAG = b"NSL-FULFIL-V1"
ALPHA_TAG = b"NSL-DYVRF-ALPHA-V1"
WORD_SIZE = 32
ADDRESS_SIZE = 20
MAX_CHAIN_ID = 2**256 - 1


def _check(chain_id: int, gateway: bytes, request_id: bytes, last: bytes) -> None:
    if not 0 < chain_id <= MAX_CHAIN_ID:
        raise InvalidInput("chain id out of range")
    if len(gateway) != ADDRESS_SIZE:
        raise InvalidInput(f"a gateway address is {ADDRESS_SIZE} bytes")
    if len(request_id) != WORD_SIZE or len(last) != WORD_SIZE:
        raise InvalidInput(f"request id and hashes are {WORD_SIZE} bytes")


def fulfilment_preimage(chain_id: int, gateway: bytes, request_id: bytes, result: bytes) -> bytes:
    """What the identity key signs (keccak256 of it) to fulfil ``request_id`` with ``result``."""
    result_hash = keccak256(result)
    _check(chain_id, gateway, request_id, result_hash)
    return FULFIL_TAG + chain_id.to_bytes(WORD_SIZE, "big") + gateway + request_id + result_hash


def fulfilment_digest(chain_id: int, gateway: bytes, request_id: bytes, result: bytes) -> bytes:
    """The gateway's ``fulfilmentDigest(requestId, keccak256(result))``."""
    return keccak256(fulfilment_preimage(chain_id, gateway, request_id, result))


def randomness_alpha(chain_id: int, gateway: bytes, request_id: bytes, payload_hash: bytes) -> bytes:
    """The gateway's ``randomnessAlpha(requestId)`` from the stored ``keccak256(payload)``."""
    _check(chain_id, gateway, request_id, payload_hash)
    return ALPHA_TAG + chain_id.to_bytes(WORD_SIZE, "big") + gateway + request_id + payload_hash

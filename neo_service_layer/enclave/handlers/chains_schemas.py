"""Schemas of the chain fulfilment ops (``handlers/chains.py``).

``chains.evm_randomness_fulfilment`` takes the platform's DY-VRF key version (:class:`KeyVersionArgs`:
key id, version and type; the wrapped material and the sealed AMK as keys ops receive them) and the
request as the gateway stored it: chain id, gateway address, request id and ``keccak256(payload)``. It
takes no alpha, digest or result: the enclave derives all three itself. Fixed-size values are
lowercase hex (docs/enclave.md §1).
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

from neo_service_layer.enclave.canonical import MAX_SAFE_INTEGER
from neo_service_layer.enclave.handlers.keys_schemas import HexBytes, KeyVersionArgs
from neo_service_layer.enclave.schemas import EnclaveModel, EvmAddress

WORD_SIZE: Final = 32
#: beta (32) ‖ pi as an EIP-2537 G2 point (256).
RANDOMNESS_RESULT_SIZE: Final = 288
EVM_SIGNATURE_SIZE: Final = 65

Word = Annotated[HexBytes, Field(min_length=WORD_SIZE, max_length=WORD_SIZE)]
# Chain ids travel as JSON integers; every chain in use is far below 2^53 (EIP-2294 bounds them lower).
ChainId = Annotated[int, Field(ge=1, le=MAX_SAFE_INTEGER)]


class EvmRandomnessFulfilmentArgs(KeyVersionArgs):
    """One randomness request of an NSLGateway, and the VRF key version to prove it with."""

    chain_id: ChainId
    gateway: EvmAddress
    request_id: Word
    payload_hash: Word  # keccak256(payload), as the gateway stores it (getRequest().payloadHash)


class EvmRandomnessFulfilmentResult(EnclaveModel):
    """The result to submit with ``fulfill`` and the enclave's signature over its fulfilment digest."""

    request_id: Word
    result: Annotated[HexBytes, Field(min_length=RANDOMNESS_RESULT_SIZE, max_length=RANDOMNESS_RESULT_SIZE)]
    beta: Word
    signature: Annotated[HexBytes, Field(min_length=EVM_SIGNATURE_SIZE, max_length=EVM_SIGNATURE_SIZE)]
    signer: EvmAddress  # the identity's secp256k1 address: the gateway's enclaveSigner
    vrf_public_key: HexBytes  # compressed G1 (48 bytes); the gateway holds its EIP-2537 form

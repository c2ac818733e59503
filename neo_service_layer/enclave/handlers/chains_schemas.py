"""Schemas of the chain fulfilment ops (``handlers/chains.py``).

``chains.evm_randomness_fulfilment`` takes the platform's DY-VRF key version (:class:`KeyVersionArgs`:
key id, version and type; the wrapped material and the sealed AMK as keys ops receive them) and the
request as the gateway stored it: chain id, gateway address, request id and ``keccak256(payload)``. It
takes no alpha, digest or result: the enclave derives all three itself. Fixed-size values are
lowercase hex (docs/enclave.md §1).

``chains.n3_randomness_fulfilment`` takes the same key version and a Neo N3 request as the gateway's
``Request`` notification carries it: network magic, gateway script hash (``0x`` + big-endian hex, as N3
tools display it), request id and the payload itself (the enclave hashes it; the gateway stores its
SHA-256). Again no alpha, message or result.
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
#: beta (32) ‖ pi compressed (96) ‖ x little-endian (32).
N3_RANDOMNESS_RESULT_SIZE: Final = 160
P256_SIGNATURE_SIZE: Final = 64
P256_PUBLIC_KEY_SIZE: Final = 33
#: NeoVM's largest stack item (1 MiB): no notification payload is larger.
N3_MAX_PAYLOAD_SIZE: Final = 1024 * 1024

Word = Annotated[HexBytes, Field(min_length=WORD_SIZE, max_length=WORD_SIZE)]
# Chain ids travel as JSON integers; every chain in use is far below 2^53 (EIP-2294 bounds them lower).
ChainId = Annotated[int, Field(ge=1, le=MAX_SAFE_INTEGER)]
N3ScriptHash = Annotated[str, Field(pattern=r"^0x[0-9a-f]{40}$")]


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


class N3RandomnessFulfilmentArgs(KeyVersionArgs):
    """One randomness request of a Neo N3 NSLGateway, and the VRF key version to prove it with."""

    network_magic: Annotated[int, Field(ge=0, le=0xFFFFFFFF)]
    gateway: N3ScriptHash  # 0x + big-endian hex (the display form); the messages use its reverse
    request_id: Annotated[int, Field(ge=1, le=MAX_SAFE_INTEGER)]  # the gateway counts 1, 2, ... (u64)
    payload: Annotated[HexBytes, Field(max_length=N3_MAX_PAYLOAD_SIZE)]


class N3RandomnessFulfilmentResult(EnclaveModel):
    """The arguments of ``fulfill(request_id, result, signature)`` and what they were made with."""

    request_id: int
    result: Annotated[
        HexBytes, Field(min_length=N3_RANDOMNESS_RESULT_SIZE, max_length=N3_RANDOMNESS_RESULT_SIZE)
    ]
    beta: Word
    signature: Annotated[HexBytes, Field(min_length=P256_SIGNATURE_SIZE, max_length=P256_SIGNATURE_SIZE)]
    signer: Annotated[HexBytes, Field(min_length=P256_PUBLIC_KEY_SIZE, max_length=P256_PUBLIC_KEY_SIZE)]
    vrf_public_key: HexBytes  # compressed G1 (48 bytes): what set_vrf_key registers

"""The chain fulfilment ops (handlers: ``handlers/chains.py``) and their schemas.

The fulfilment ops take a request as the gateway stored it, and the VRF key version stored with it; no
key material, alpha, digest or result: the enclave derives the key from its identity
(``enclave/chain_keys.py``) and builds everything else itself. Fixed-size values are lowercase hex
(docs/enclave.md §1).

- ``chains.evm_randomness_fulfilment``: chain id, gateway address, request id, ``keccak256(payload)``
  and the request's VRF key version (``getRequest``);
- ``chains.n3_randomness_fulfilment``: network magic, gateway script hash (``0x`` + big-endian hex, as
  N3 tools display it), request id, the payload itself (the enclave hashes it; the gateway stores its
  SHA-256) and the request's VRF key version (``get_request``);
- ``chains.vrf_public_key``: a chain family and a version → the public key a gateway registers.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

from neo_service_layer.enclave.canonical import MAX_SAFE_INTEGER
from neo_service_layer.enclave.chain_keys import MAX_KEY_VERSION, ChainFamily
from neo_service_layer.enclave.crypto import dyvrf, n3_gateway
from neo_service_layer.enclave.opdefs.base import Op
from neo_service_layer.enclave.opdefs.keys import HexBytes
from neo_service_layer.enclave.schemas import EnclaveModel, EvmAddress
from neo_service_layer.enclave.signing import K1_SIGNATURE_BYTES, P256_SIGNATURE_BYTES

WORD_SIZE: Final = 32
#: beta (32) ‖ pi as an EIP-2537 G2 point (256).
RANDOMNESS_RESULT_SIZE: Final = WORD_SIZE + dyvrf.EIP2537_G2_SIZE
#: A compressed secp256r1 public key (the identity's, which signs N3 fulfilments).
P256_PUBLIC_KEY_SIZE: Final = 33
#: NeoVM's largest stack item (1 MiB): no notification payload is larger.
N3_MAX_PAYLOAD_SIZE: Final = 1024 * 1024

Word = Annotated[HexBytes, Field(min_length=WORD_SIZE, max_length=WORD_SIZE)]
# Chain ids travel as JSON integers; every chain in use is far below 2^53 (EIP-2294 bounds them lower).
ChainId = Annotated[int, Field(ge=1, le=MAX_SAFE_INTEGER)]
N3ScriptHash = Annotated[str, Field(pattern=r"^0x[0-9a-f]{40}$")]
VrfKeyVersion = Annotated[int, Field(ge=1, le=MAX_KEY_VERSION)]
FamilyField = Annotated[ChainFamily, Field(strict=False)]
VrfPublicKey = Annotated[HexBytes, Field(min_length=dyvrf.PUBLIC_KEY_SIZE, max_length=dyvrf.PUBLIC_KEY_SIZE)]


class VrfPublicKeyArgs(EnclaveModel):
    """A version of a chain family's platform VRF key."""

    family: FamilyField
    version: VrfKeyVersion


class VrfPublicKeyResult(EnclaveModel):
    """The public key of that version, in the forms the gateways register."""

    family: FamilyField
    version: int
    public_key: VrfPublicKey  # compressed G1: N3 ``set_vrf_key``
    public_key_eip2537: Annotated[
        HexBytes, Field(min_length=dyvrf.EIP2537_G1_SIZE, max_length=dyvrf.EIP2537_G1_SIZE)
    ]
    key_hash: Word  # EVM: keccak256(EIP-2537 form); N3: SHA-256(compressed form)


class EvmRandomnessFulfilmentArgs(EnclaveModel):
    """One randomness request of an NSLGateway as ``getRequest`` returns it."""

    chain_id: ChainId
    gateway: EvmAddress
    request_id: Word
    payload_hash: Word  # keccak256(payload), as the gateway stores it (getRequest().payloadHash)
    vrf_key_version: VrfKeyVersion  # getRequest().vrfKeyVersion


class EvmRandomnessFulfilmentResult(EnclaveModel):
    """The result to submit with ``fulfill`` and the enclave's signature over its fulfilment digest."""

    request_id: Word
    result: Annotated[HexBytes, Field(min_length=RANDOMNESS_RESULT_SIZE, max_length=RANDOMNESS_RESULT_SIZE)]
    beta: Word
    signature: Annotated[HexBytes, Field(min_length=K1_SIGNATURE_BYTES, max_length=K1_SIGNATURE_BYTES)]
    signer: EvmAddress  # the identity's secp256k1 address: the gateway's enclaveSigner
    vrf_key_version: int
    vrf_public_key: VrfPublicKey  # compressed G1; the gateway holds its EIP-2537 form and that form's hash


class N3RandomnessFulfilmentArgs(EnclaveModel):
    """One randomness request of a Neo N3 NSLGateway, as its notification and ``get_request`` give it."""

    network_magic: Annotated[int, Field(ge=0, le=0xFFFFFFFF)]
    gateway: N3ScriptHash  # 0x + big-endian hex (the display form); the messages use its reverse
    request_id: Annotated[int, Field(ge=1, le=MAX_SAFE_INTEGER)]  # the gateway counts 1, 2, ... (u64)
    payload: Annotated[HexBytes, Field(max_length=N3_MAX_PAYLOAD_SIZE)]
    vrf_key_version: VrfKeyVersion  # get_request()[8]


class N3RandomnessFulfilmentResult(EnclaveModel):
    """The arguments of ``fulfill(request_id, result, signature)`` and what they were made with."""

    request_id: int
    result: Annotated[
        HexBytes,
        Field(min_length=n3_gateway.RANDOMNESS_RESULT_SIZE, max_length=n3_gateway.RANDOMNESS_RESULT_SIZE),
    ]
    beta: Word
    signature: Annotated[HexBytes, Field(min_length=P256_SIGNATURE_BYTES, max_length=P256_SIGNATURE_BYTES)]
    signer: Annotated[HexBytes, Field(min_length=P256_PUBLIC_KEY_SIZE, max_length=P256_PUBLIC_KEY_SIZE)]
    vrf_key_version: int
    vrf_public_key: VrfPublicKey  # compressed G1 (48 bytes): what set_vrf_key registers


VRF_PUBLIC_KEY: Final = Op("chains.vrf_public_key", VrfPublicKeyArgs, VrfPublicKeyResult)
EVM_RANDOMNESS_FULFILMENT: Final = Op(
    "chains.evm_randomness_fulfilment", EvmRandomnessFulfilmentArgs, EvmRandomnessFulfilmentResult
)
N3_RANDOMNESS_FULFILMENT: Final = Op(
    "chains.n3_randomness_fulfilment", N3RandomnessFulfilmentArgs, N3RandomnessFulfilmentResult
)

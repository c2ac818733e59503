"""The oracle's gateway fulfilment ops (handlers: ``handlers/oracle_chains.py``; docs/oracle.md §8).

- ``chains.evm_oracle_fulfilment``: chain id, gateway address, request id and the request's payload as
  the ``ServiceRequested`` log carries it;
- ``chains.n3_oracle_fulfilment``: network magic, gateway script hash (``0x`` + big-endian hex), request
  id and the payload as the ``Request`` notification carries it.

The payload itself, not its hash: the enclave reads the URL and filter from it and hashes it itself
(keccak256 on EVM, SHA-256 on N3) for the signed digest, so a host that hands in another payload gets a
signature over another payload hash, which the gateway (holding the request's own hash) refuses.
Results: the code and data the callback gets, the result bytes ``fulfill`` takes, and the enclave's
signature over the gateway's fulfilment digest (EVM) or message (N3).
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

from neo_service_layer.enclave.canonical import MAX_SAFE_INTEGER
from neo_service_layer.enclave.opdefs.base import Op
from neo_service_layer.enclave.opdefs.chains import (
    N3_MAX_PAYLOAD_SIZE,
    P256_PUBLIC_KEY_SIZE,
    ChainId,
    N3ScriptHash,
    Word,
)
from neo_service_layer.enclave.opdefs.keys import HexBytes
from neo_service_layer.enclave.opdefs.oracle import CodeName
from neo_service_layer.enclave.oracle.onchain import MAX_ONCHAIN_DATA_BYTES
from neo_service_layer.enclave.schemas import EnclaveModel, EvmAddress
from neo_service_layer.enclave.signing import K1_SIGNATURE_BYTES, P256_SIGNATURE_BYTES

#: The largest payload the ops take (NeoVM's largest item; an EVM log of more costs over 16M gas).
MAX_PAYLOAD_SIZE: Final = N3_MAX_PAYLOAD_SIZE
#: abi.encode(uint8, bytes) of the largest data: two words, the length word, the data padded.
MAX_EVM_RESULT_SIZE: Final = 3 * 32 + MAX_ONCHAIN_DATA_BYTES
MAX_N3_RESULT_SIZE: Final = 1 + MAX_ONCHAIN_DATA_BYTES

Payload = Annotated[HexBytes, Field(max_length=MAX_PAYLOAD_SIZE)]
Data = Annotated[HexBytes, Field(max_length=MAX_ONCHAIN_DATA_BYTES)]


class EvmOracleFulfilmentArgs(EnclaveModel):
    """One oracle request of an EVM NSLGateway, as its ``ServiceRequested`` log gives it."""

    chain_id: ChainId
    gateway: EvmAddress
    request_id: Word
    payload: Payload  # the log's payload; the enclave hashes it (the gateway stores keccak256 of it)


class EvmOracleFulfilmentResult(EnclaveModel):
    """What the callback gets (``code``, ``data``), the ``fulfill`` result and the identity's signature."""

    request_id: Word
    code: CodeName
    data: Data
    detail: str
    result: Annotated[HexBytes, Field(max_length=MAX_EVM_RESULT_SIZE)]  # abi.encode(uint8, bytes)
    signature: Annotated[HexBytes, Field(min_length=K1_SIGNATURE_BYTES, max_length=K1_SIGNATURE_BYTES)]
    signer: EvmAddress


class N3OracleFulfilmentArgs(EnclaveModel):
    """One oracle request of a Neo N3 NSLGateway, as its ``Request`` notification gives it."""

    network_magic: Annotated[int, Field(ge=0, le=0xFFFFFFFF)]
    gateway: N3ScriptHash
    request_id: Annotated[int, Field(ge=1, le=MAX_SAFE_INTEGER)]
    payload: Payload  # the notification's payload; the enclave hashes it (SHA-256, as the gateway)


class N3OracleFulfilmentResult(EnclaveModel):
    """What the callback gets (``code``, ``data``), the ``fulfill`` result and the identity's signature."""

    request_id: int
    code: CodeName
    data: Data
    detail: str
    result: Annotated[HexBytes, Field(min_length=1, max_length=MAX_N3_RESULT_SIZE)]  # code ‖ data
    signature: Annotated[HexBytes, Field(min_length=P256_SIGNATURE_BYTES, max_length=P256_SIGNATURE_BYTES)]
    signer: Annotated[HexBytes, Field(min_length=P256_PUBLIC_KEY_SIZE, max_length=P256_PUBLIC_KEY_SIZE)]


EVM_ORACLE_FULFILMENT: Final = Op(
    "chains.evm_oracle_fulfilment", EvmOracleFulfilmentArgs, EvmOracleFulfilmentResult
)
N3_ORACLE_FULFILMENT: Final = Op(
    "chains.n3_oracle_fulfilment", N3OracleFulfilmentArgs, N3OracleFulfilmentResult
)

"""The functions' gateway fulfilment ops (handlers: ``handlers/functions_chains.py``; docs/functions.md
"Calls from contracts").

- ``chains.evm_function_fulfilment``: chain id, gateway address, request id, the request's payload and
  requester as the ``ServiceRequested`` log carries them;
- ``chains.n3_function_fulfilment``: network magic, gateway script hash (``0x`` + big-endian hex),
  request id, the payload and the callback contract as the ``Request`` notification carries them.

Both carry the function the payload names as the host resolved it from its database
(:class:`ChainFunction`, or None when there is no such live function) and the run id the host chose
for the request (stable across retries). The enclave reads the payload itself and hashes it itself
(keccak256 on EVM, SHA-256 on N3) for the signed digest, as the oracle's ops do: a host that hands in
another payload gets a signature over another payload hash, which the gateway refuses. Results: the
code and data the callback gets, the ``fulfill`` result bytes, the identity's signature over the
gateway's digest (EVM) or message (N3), and the run's record when the function ran.

Plain ops, not signed envelopes: what binds the answer is the gateway signature over the request's
payload hash and the result, which carries the SHA-256 of the code that ran.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import AfterValidator, Field

from neo_service_layer.enclave.canonical import MAX_SAFE_INTEGER
from neo_service_layer.enclave.functions.onchain import (
    MAX_ERROR_DATA_BYTES,
    SHA256_SIZE,
    FunctionCode,
    consumer_key,
)
from neo_service_layer.enclave.opdefs.base import Op
from neo_service_layer.enclave.opdefs.chains import P256_PUBLIC_KEY_SIZE, ChainId, N3ScriptHash, Word
from neo_service_layer.enclave.opdefs.functions import (
    MAX_ALLOWED_DOMAINS,
    MAX_VERSION,
    Domain,
    Limits,
    RunOutcome,
    Source,
)
from neo_service_layer.enclave.opdefs.keys import HexBytes
from neo_service_layer.enclave.opdefs.oracle_chains import Payload
from neo_service_layer.enclave.opdefs.secrets import MAX_RESOLVED_SECRETS, StoredVersion
from neo_service_layer.enclave.oracle.onchain import MAX_ONCHAIN_DATA_BYTES
from neo_service_layer.enclave.schemas import EnclaveModel, EvmAddress, Hex32
from neo_service_layer.enclave.signing import K1_SIGNATURE_BYTES, P256_SIGNATURE_BYTES
from neo_service_layer.ids import AccountId, ResourceId

#: The most consumer contracts a function may allow.
MAX_CONSUMERS: Final = 64
#: The longest consumer key: ``evm:`` + 16 digits + ``:0x`` + 40 hex characters.
MAX_CONSUMER_KEY_CHARS: Final = 64
_DATA_BYTES: Final = max(MAX_ONCHAIN_DATA_BYTES, MAX_ERROR_DATA_BYTES)
#: abi.encode(uint8, bytes32, bytes) of the largest data: three words, the length word, the data padded.
MAX_EVM_RESULT_SIZE: Final = 4 * 32 + _DATA_BYTES
MAX_N3_RESULT_SIZE: Final = 1 + SHA256_SIZE + _DATA_BYTES

# A FunctionCode by name ("Success", "SourceMismatch", ...), as the oracle's CodeName.
CODE_NAME_PATTERN: Final = "^(" + "|".join(code.name for code in FunctionCode) + ")$"
CodeName = Annotated[str, Field(pattern=CODE_NAME_PATTERN)]


def _normalised(key: str) -> str:
    # Exactly what consumer_key writes (the host normalises its list with it): the enclave compares
    # keys as strings, so two spellings of one contract must not both exist.
    chain, _, contract = key.rpartition(":")
    if consumer_key(chain, contract) != key:
        raise ValueError(f"consumer {key[:70]!r} is not in consumer_key's normal form")
    return key


ConsumerKey = Annotated[str, Field(max_length=MAX_CONSUMER_KEY_CHARS), AfterValidator(_normalised)]
Data = Annotated[HexBytes, Field(max_length=_DATA_BYTES)]


class ChainFunction(EnclaveModel):
    """The function a payload names, as the host resolved it: the owner's account, the version to run
    (the current one, or the one whose source has the payload's hash), its limits, domains, the stored
    records of its granted secrets (values never leave the enclave), the consumer contracts its owner
    allows (``consumer_key``s) and whether the args passed the function's ``args_schema`` (the host
    checks it: JSON Schema stays out of the enclave)."""

    account_id: AccountId
    function_id: ResourceId
    version: Annotated[int, Field(ge=1, le=MAX_VERSION)]
    source: Source
    limits: Limits = Field(default_factory=Limits)
    allowed_domains: Annotated[list[Domain], Field(max_length=MAX_ALLOWED_DOMAINS)] = Field(
        default_factory=list
    )
    secrets: Annotated[list[StoredVersion], Field(max_length=MAX_RESOLVED_SECRETS)] = Field(
        default_factory=list
    )
    consumers: Annotated[list[ConsumerKey], Field(max_length=MAX_CONSUMERS)] = Field(default_factory=list)
    args_valid: bool = True


class EvmFunctionFulfilmentArgs(EnclaveModel):
    """One functions request of an EVM NSLGateway, as its ``ServiceRequested`` log gives it, with the
    function the host resolved for it (None: no live function of the payload's id)."""

    chain_id: ChainId
    gateway: EvmAddress
    request_id: Word
    payload: Payload  # the log's payload; the enclave hashes it (the gateway stores keccak256 of it)
    consumer: EvmAddress  # the requesting contract (ServiceRequest.requester)
    run_id: ResourceId
    function: ChainFunction | None


class EvmFunctionFulfilmentResult(EnclaveModel):
    """What the callback gets (``code``, ``source_sha256``, ``data``), the ``fulfill`` result, the
    identity's signature, and the run's record when the function ran."""

    request_id: Word
    code: CodeName
    source_sha256: Hex32 | None  # of the code that ran; None when nothing ran
    data: Data
    result: Annotated[HexBytes, Field(max_length=MAX_EVM_RESULT_SIZE)]  # abi.encode(uint8, bytes32, bytes)
    signature: Annotated[HexBytes, Field(min_length=K1_SIGNATURE_BYTES, max_length=K1_SIGNATURE_BYTES)]
    signer: EvmAddress
    run: RunOutcome | None


class N3FunctionFulfilmentArgs(EnclaveModel):
    """One functions request of a Neo N3 NSLGateway, as its ``Request`` notification gives it, with the
    function the host resolved for it (None: no live function of the payload's id)."""

    network_magic: Annotated[int, Field(ge=0, le=0xFFFFFFFF)]
    gateway: N3ScriptHash
    request_id: Annotated[int, Field(ge=1, le=MAX_SAFE_INTEGER)]
    payload: Payload  # the notification's payload; the enclave hashes it (SHA-256, as the gateway)
    consumer: N3ScriptHash  # the requesting contract (the request's callback contract)
    run_id: ResourceId
    function: ChainFunction | None


class N3FunctionFulfilmentResult(EnclaveModel):
    """As :class:`EvmFunctionFulfilmentResult`; ``result`` is ``code ‖ sourceHash ‖ data``, signed with
    the identity's P-256 key."""

    request_id: int
    code: CodeName
    source_sha256: Hex32 | None
    data: Data
    result: Annotated[HexBytes, Field(min_length=1 + SHA256_SIZE, max_length=MAX_N3_RESULT_SIZE)]
    signature: Annotated[HexBytes, Field(min_length=P256_SIGNATURE_BYTES, max_length=P256_SIGNATURE_BYTES)]
    signer: Annotated[HexBytes, Field(min_length=P256_PUBLIC_KEY_SIZE, max_length=P256_PUBLIC_KEY_SIZE)]
    run: RunOutcome | None


EVM_FUNCTION_FULFILMENT: Final = Op(
    "chains.evm_function_fulfilment", EvmFunctionFulfilmentArgs, EvmFunctionFulfilmentResult
)
N3_FUNCTION_FULFILMENT: Final = Op(
    "chains.n3_function_fulfilment", N3FunctionFulfilmentArgs, N3FunctionFulfilmentResult
)

"""What the fulfiller asks an EVM node about the gateway: stored requests, ``Fulfilled`` logs, and revert
reasons decoded with the gateway's errors (gas, fees, nonces and receipts: :mod:`.contract_rpc`); and the
``fulfill`` call data.

Like :mod:`.requests`, the ABI pieces are written here from their Solidity signatures and encoded with
``eth_abi``, so the worker needs no contract build; a test checks every signature against solc's ABI of
``NSLGateway``. Calls are blocking web3.py calls: the fulfiller runs them in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.types import FilterParams, TxParams, TxReceipt

from neo_service_layer.chains.evm.contract_rpc import ContractRpc, decode_error, error_table, selector
from neo_service_layer.chains.evm.messages import Mode

FULFILL_SIGNATURE = "fulfill(bytes32,bytes,bytes)"
GET_REQUEST_SIGNATURE = "getRequest(bytes32)"
FULFILLED_SIGNATURE = "Fulfilled(bytes32,bytes,bool,uint32)"
FULFILLED_TOPIC = keccak(text=FULFILLED_SIGNATURE)
# getRequest's struct: requester, callbackSelector, gasForResponse, mode, status, callbackContract,
# vrfKeyVersion, service, payloadHash (NSLGateway.Request, in declaration order).
_REQUEST_TYPES = ("(address,bytes4,uint32,uint8,uint8,address,uint32,bytes32,bytes32)",)
#: The custom errors a fulfilment can revert with: NSLGateway's own and its libraries'.
GATEWAY_ERRORS: tuple[str, ...] = (
    "GatewayPaused()",
    "UnknownRequest(bytes32)",
    "AlreadyFulfilled(bytes32)",
    "NotEnclaveSigned(address)",
    "BadResultSize(uint256,uint256)",
    "VrfPublicKeyNotSet()",
    "InvalidProof()",
    "OutputMismatch(bytes32,bytes32)",
    "InsufficientGasForCallback()",
    "InvalidSignature()",
    "PrecompileFailed(address)",
)
_ERRORS_BY_SELECTOR = error_table(GATEWAY_ERRORS)


class RequestStatus(IntEnum):
    """``NSLGateway.Status``: fixed numeric values."""

    NONE = 0
    PENDING = 1
    FULFILLED = 2


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """What ``getRequest`` returns that the fulfiller uses."""

    status: RequestStatus
    mode: Mode
    gas_for_response: int
    service: bytes
    payload_hash: bytes
    vrf_key_version: int  # the VRF key version the request is pinned to (0: none)


@dataclass(frozen=True, slots=True)
class FulfilledLog:
    """On-chain evidence that a request was fulfilled: where, and what the callback did."""

    tx_hash: str
    block_number: int
    result: bytes
    callback_success: bool


def fulfill_calldata(request_id: bytes, result: bytes, signature: bytes) -> bytes:
    """ABI call data of ``fulfill(requestId, result, signature)``."""
    return selector(FULFILL_SIGNATURE) + abi_encode(
        ["bytes32", "bytes", "bytes"], [request_id, result, signature]
    )


def decode_revert(data: bytes | None) -> str:
    """A revert's data as ``Name(args)`` for the gateway's custom errors (``unknown(0x…)`` otherwise)."""
    return decode_error(data, _ERRORS_BY_SELECTOR)


class GatewayRpc(ContractRpc):
    """Blocking reads and sends for one gateway (run them in a thread)."""

    errors = _ERRORS_BY_SELECTOR

    def __init__(self, w3: Web3, gateway: str) -> None:
        super().__init__(w3, gateway)
        self.gateway = self.address

    def get_request(self, request_id: bytes) -> StoredRequest:
        data = selector(GET_REQUEST_SIGNATURE) + request_id
        raw = self.w3.eth.call(cast(TxParams, {"to": self.gateway, "data": HexBytes(data)}))
        (fields,) = abi_decode(_REQUEST_TYPES, bytes(raw))
        _requester, _selector, gas, mode, status, _callback, key_version, service, payload_hash = fields
        return StoredRequest(
            RequestStatus(status), Mode(mode), int(gas), bytes(service), bytes(payload_hash), int(key_version)
        )

    def find_fulfilled(self, request_id: bytes, from_block: int) -> FulfilledLog | None:
        """The ``Fulfilled`` log of ``request_id`` at or after ``from_block``, if any."""
        params: FilterParams = {
            "address": self.gateway,
            "topics": [HexBytes(FULFILLED_TOPIC).to_0x_hex(), HexBytes(request_id).to_0x_hex()],
            "fromBlock": from_block,
            "toBlock": "latest",
        }
        logs = self.w3.eth.get_logs(params)
        return _fulfilled(logs[0]) if logs else None

    def fulfilled_in(self, receipt: TxReceipt, request_id: bytes) -> FulfilledLog | None:
        """The ``Fulfilled`` log of ``request_id`` in ``receipt``, if it has one."""
        for log in receipt["logs"]:
            topics = [bytes(t) for t in log["topics"]]
            if (
                Web3.to_checksum_address(log["address"]) == self.gateway
                and len(topics) == 2
                and topics[0] == FULFILLED_TOPIC
                and topics[1] == request_id
            ):
                return _fulfilled(log)
        return None


def _fulfilled(log: Any) -> FulfilledLog:
    result, callback_success, _version = abi_decode(["bytes", "bool", "uint32"], bytes(HexBytes(log["data"])))
    return FulfilledLog(
        tx_hash=HexBytes(log["transactionHash"]).to_0x_hex(),
        block_number=int(log["blockNumber"]),
        result=bytes(result),
        callback_success=bool(callback_success),
    )

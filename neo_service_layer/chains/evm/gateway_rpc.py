"""What the fulfiller asks an EVM node about the gateway: stored requests, ``Fulfilled`` logs, gas, fees,
receipts and revert reasons; and the ``fulfill`` call data.

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
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError
from web3.types import BlockIdentifier, FilterParams, TxParams, TxReceipt

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
_ERRORS_BY_SELECTOR = {keccak(text=sig)[:4]: sig for sig in GATEWAY_ERRORS}
_ERROR_STRING = keccak(text="Error(string)")[:4]


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


@dataclass(frozen=True, slots=True)
class Fees:
    """EIP-1559 fees per gas, in wei (and the base fee they were read with, when known)."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    base_fee_per_gas: int = 0


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def fulfill_calldata(request_id: bytes, result: bytes, signature: bytes) -> bytes:
    """ABI call data of ``fulfill(requestId, result, signature)``."""
    return selector(FULFILL_SIGNATURE) + abi_encode(
        ["bytes32", "bytes", "bytes"], [request_id, result, signature]
    )


def decode_revert(data: bytes | None) -> str:
    """A revert's data as ``Name(args)`` for the gateway's custom errors (``unknown(0x…)`` otherwise)."""
    if not data:
        return "no revert data"
    signature = _ERRORS_BY_SELECTOR.get(data[:4])
    try:
        if signature is not None:
            name, _, types = signature.partition("(")
            arg_types = [t for t in types.rstrip(")").split(",") if t]
            args = abi_decode(arg_types, data[4:])
            shown = ", ".join(_show(a) for a in args)
            return f"{name}({shown})"
        if data[:4] == _ERROR_STRING:
            return f"Error({abi_decode(['string'], data[4:])[0]!r})"
    except DecodingError:
        pass
    return f"unknown(0x{data.hex()})"


def revert_name(decoded: str) -> str:
    """The error name of :func:`decode_revert`'s output (``AlreadyFulfilled``, ...)."""
    return decoded.partition("(")[0]


def _show(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def _revert_data(exc: ContractLogicError) -> bytes | None:
    data = exc.data
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    if isinstance(data, bytes):
        return data
    return None


class WouldRevert(Exception):
    """A call or gas estimate reverted; ``reason`` is the decoded custom error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GatewayRpc:
    """Blocking reads and sends for one gateway (run them in a thread)."""

    def __init__(self, w3: Web3, gateway: str) -> None:
        self.w3 = w3
        self.gateway = Web3.to_checksum_address(gateway)

    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

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

    def estimate_gas(self, sender: str, data: bytes) -> int:
        """``eth_estimateGas`` of a gateway call; :class:`WouldRevert` with the decoded reason."""
        tx: TxParams = {"from": Web3.to_checksum_address(sender), "to": self.gateway, "data": HexBytes(data)}
        try:
            return int(self.w3.eth.estimate_gas(tx))
        except ContractLogicError as e:
            raise WouldRevert(decode_revert(_revert_data(e))) from e

    def revert_reason(self, sender: str, data: bytes, gas: int, block: BlockIdentifier) -> str:
        """Why a mined call reverted: it is replayed with ``eth_call`` on the state after ``block``."""
        tx: TxParams = {
            "from": Web3.to_checksum_address(sender),
            "to": self.gateway,
            "data": HexBytes(data),
            "gas": gas,
        }
        try:
            self.w3.eth.call(tx, block)
        except ContractLogicError as e:
            return decode_revert(_revert_data(e))
        return "unknown (the replay did not revert)"

    def fees(self) -> Fees:
        """EIP-1559 fees for the next block: tip from the node, max = 2 * base fee + tip."""
        base = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0))
        tip = int(self.w3.eth.max_priority_fee)
        return Fees(max_fee_per_gas=2 * base + tip, max_priority_fee_per_gas=tip, base_fee_per_gas=base)

    def pending_nonce(self, address: str) -> int:
        return int(self.w3.eth.get_transaction_count(Web3.to_checksum_address(address), "pending"))

    def mined_nonce(self, address: str) -> int:
        return int(self.w3.eth.get_transaction_count(Web3.to_checksum_address(address), "latest"))

    def receipt(self, tx_hash: str) -> TxReceipt | None:
        try:
            return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None

    def knows(self, tx_hash: str) -> bool:
        """Whether the node has the transaction (mined or in its pool)."""
        try:
            self.w3.eth.get_transaction(HexBytes(tx_hash))
        except TransactionNotFound:
            return False
        return True

    def broadcast(self, raw_tx: bytes) -> None:
        """``eth_sendRawTransaction``. A node that already has it is fine (a rebroadcast)."""
        try:
            self.w3.eth.send_raw_transaction(raw_tx)
        except Web3RPCError as e:
            message = str(e).lower()
            if "already known" in message or "already imported" in message:
                return
            raise


def _fulfilled(log: Any) -> FulfilledLog:
    result, callback_success, _version = abi_decode(["bytes", "bool", "uint32"], bytes(HexBytes(log["data"])))
    return FulfilledLog(
        tx_hash=HexBytes(log["transactionHash"]).to_0x_hex(),
        block_number=int(log["blockNumber"]),
        result=bytes(result),
        callback_success=bool(callback_success),
    )

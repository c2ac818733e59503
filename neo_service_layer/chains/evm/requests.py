"""The gateway's ``ServiceRequested`` log, decoded into what the platform needs to serve it.

Decoded with ``eth_abi`` from the event signature written here rather than from the compiled ABI, so
the worker that follows a chain needs no contract build; a test checks that this signature is the one
solc puts in ``NSLGateway``'s ABI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from neo_service_layer.chains.evm.errors import InvalidChainMessage
from neo_service_layer.chains.evm.messages import Mode

SERVICE_REQUESTED_SIGNATURE = (
    "ServiceRequested(bytes32,address,bytes32,bytes,uint8,address,bytes4,uint32,uint256)"
)
#: topic0 of every ServiceRequested log.
SERVICE_REQUESTED_TOPIC = keccak(text=SERVICE_REQUESTED_SIGNATURE)
# The non-indexed fields, in declaration order (INSLGateway.sol).
_DATA_TYPES = ("bytes", "uint8", "address", "bytes4", "uint32", "uint256")
_ADDRESS_TOPIC_PAD = 12


@dataclass(frozen=True, slots=True)
class ServiceRequest:
    """One request as the chain recorded it, and where (block, transaction, log)."""

    chain_id: int
    gateway: str
    request_id: bytes
    requester: str
    service: str
    payload: bytes
    mode: Mode
    callback_contract: str
    callback_selector: bytes
    gas_for_response: int
    fee_paid: int
    block_number: int
    block_hash: bytes
    tx_hash: bytes
    log_index: int

    @property
    def idempotency_key(self) -> str:
        """Where the request was seen, ``evm:<chain id>:<tx hash>:<log index>``: one job per log."""
        return f"evm:{self.chain_id}:{self.tx_hash.hex()}:{self.log_index}"

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe form for a job payload."""
        return {
            "chain": f"evm:{self.chain_id}",
            "gateway": self.gateway,
            "request_id": self.request_id.hex(),
            "requester": self.requester,
            "service": self.service,
            "payload": self.payload.hex(),
            "mode": int(self.mode),
            "callback_contract": self.callback_contract,
            "callback_selector": self.callback_selector.hex(),
            "gas_for_response": self.gas_for_response,
            "fee_paid": str(self.fee_paid),
            "block_number": self.block_number,
            "block_hash": self.block_hash.hex(),
            "tx_hash": self.tx_hash.hex(),
            "log_index": self.log_index,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> ServiceRequest:
        """The inverse of :meth:`to_payload`; :class:`InvalidChainMessage` for a malformed payload."""
        try:
            chain = str(payload["chain"])
            if not chain.startswith("evm:"):
                raise ValueError(f"not an EVM chain: {chain!r}")
            return cls(
                chain_id=int(chain.removeprefix("evm:")),
                gateway=to_checksum_address(payload["gateway"]),
                request_id=_fixed(payload["request_id"], 32),
                requester=to_checksum_address(payload["requester"]),
                service=str(payload["service"]),
                payload=bytes.fromhex(payload["payload"]),
                mode=Mode(int(payload["mode"])),
                callback_contract=to_checksum_address(payload["callback_contract"]),
                callback_selector=_fixed(payload["callback_selector"], 4),
                gas_for_response=int(payload["gas_for_response"]),
                fee_paid=int(payload["fee_paid"]),
                block_number=int(payload["block_number"]),
                block_hash=_fixed(payload["block_hash"], 32),
                tx_hash=_fixed(payload["tx_hash"], 32),
                log_index=int(payload["log_index"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidChainMessage(f"malformed chain request payload: {e}") from e


def _fixed(text: str, size: int) -> bytes:
    value = bytes.fromhex(text)
    if len(value) != size:
        raise ValueError(f"expected {size} bytes, got {len(value)}")
    return value


def decode_service_requested(chain_id: int, log: Mapping[str, Any]) -> ServiceRequest:
    """Decode one ``ServiceRequested`` log (as ``eth_getLogs`` returns it).

    Raises :class:`InvalidChainMessage` for a log of another event or a malformed one: a contract at
    the gateway's address that emits something else is a misconfiguration, never silently skipped.
    """
    topics = [HexBytes(t) for t in log["topics"]]
    if len(topics) != 4 or topics[0] != SERVICE_REQUESTED_TOPIC:
        raise InvalidChainMessage("log is not a ServiceRequested event")
    try:
        payload, mode, callback, selector, gas, fee = abi_decode(_DATA_TYPES, HexBytes(log["data"]))
        mode_value = Mode(mode)
    except (DecodingError, ValueError) as e:
        raise InvalidChainMessage(f"malformed ServiceRequested data: {e}") from e
    return ServiceRequest(
        chain_id=chain_id,
        gateway=to_checksum_address(log["address"]),
        request_id=bytes(topics[1]),
        requester=to_checksum_address(bytes(topics[2])[_ADDRESS_TOPIC_PAD:]),
        service=service_name(bytes(topics[3])),
        payload=bytes(payload),
        mode=mode_value,
        callback_contract=to_checksum_address(callback),
        callback_selector=bytes(selector),
        gas_for_response=int(gas),
        fee_paid=int(fee),
        block_number=int(log["blockNumber"]),
        block_hash=bytes(HexBytes(log["blockHash"])),
        tx_hash=bytes(HexBytes(log["transactionHash"])),
        log_index=int(log["logIndex"]),
    )


def service_name(service_id: bytes) -> str:
    """The inverse of :func:`messages.service_id`: the ASCII name without its zero padding."""
    name = service_id.rstrip(b"\x00")
    try:
        return name.decode("ascii")
    except UnicodeDecodeError as e:
        raise InvalidChainMessage("service id is not ASCII") from e

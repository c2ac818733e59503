"""The N3 gateway's ``Request`` notification, decoded into what the platform needs to serve it.

Decoded from the node's JSON (``getapplicationlog``: ``{"contract", "eventname", "state": {"type":
"Array", "value": [...]}}``) against the event the gateway declares (contracts/nsl_gateway.py)::

    Request(request_id: int, service: str, payload: bytes, callback_contract: UInt160,
            callback_method: str, gas_for_response: int, verify_on_chain: bool)

Anything else from the gateway's hash named ``Request`` — wrong arity, a stack item of another type, a
callback that is not 20 bytes, a non-UTF-8 name — is refused with :class:`InvalidN3Message`, never
skipped silently: it means the configured hash is not an NSL gateway.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from neo_service_layer.chains.neo_n3.errors import InvalidN3Message
from neo_service_layer.chains.neo_n3.rpc import N3RpcError

REQUEST_EVENT = "Request"
#: Stack item types of the event's fields, in order (``Boolean`` may also come as an Integer 0/1).
_FIELDS = ("Integer", "ByteString", "ByteString", "ByteString", "ByteString", "Integer", "Boolean")
_BYTES_TYPES = ("ByteString", "Buffer")
_HASH160_SIZE = 20
_U64_MAX = 2**64 - 1


@dataclass(frozen=True, slots=True)
class N3Request:
    """One request as the chain recorded it, and where (block, transaction, notification)."""

    network_magic: int
    gateway: str  # 0x + big-endian hex (the display form)
    request_id: int
    service: str
    payload: bytes
    verify_on_chain: bool
    callback_contract: str  # 0x + big-endian hex
    callback_method: str
    gas_for_response: int  # datoshi, advisory on N3
    block_index: int
    tx_hash: str  # 0x + big-endian hex
    notification_index: int  # position in the transaction's notifications

    @property
    def chain(self) -> str:
        return f"n3:{self.network_magic}"

    @property
    def mode(self) -> int:
        """0 = signature only, 1 = on-chain verify (the EVM adapter's numbering)."""
        return int(self.verify_on_chain)

    @property
    def idempotency_key(self) -> str:
        """Where the request was seen, ``n3:<magic>:<tx hash>:<notification index>``: one job each."""
        return f"n3:{self.network_magic}:{self.tx_hash}:{self.notification_index}"

    @property
    def fulfilment_key(self) -> str:
        """The fulfilment row's key: request ids count 1, 2, … per gateway, so the gateway is part of it."""
        return f"{self.gateway[2:]}:{self.request_id}"

    def to_payload(self) -> dict[str, Any]:
        """JSON-safe form for a job payload."""
        return {
            "chain": self.chain,
            "gateway": self.gateway,
            "request_id": str(self.request_id),  # u64: above JSON's safe integers in principle
            "service": self.service,
            "payload": self.payload.hex(),
            "verify_on_chain": self.verify_on_chain,
            "callback_contract": self.callback_contract,
            "callback_method": self.callback_method,
            "gas_for_response": str(self.gas_for_response),
            "block_index": self.block_index,
            "tx_hash": self.tx_hash,
            "notification_index": self.notification_index,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> N3Request:
        """The inverse of :meth:`to_payload`; :class:`InvalidN3Message` for a malformed payload."""
        try:
            chain = str(payload["chain"])
            if not chain.startswith("n3:"):
                raise ValueError(f"not an N3 chain: {chain!r}")
            verify = payload["verify_on_chain"]
            if not isinstance(verify, bool):
                raise ValueError("verify_on_chain must be a boolean")
            return cls(
                network_magic=int(chain.removeprefix("n3:")),
                gateway=_hash_text(payload["gateway"]),
                request_id=int(payload["request_id"]),
                service=str(payload["service"]),
                payload=bytes.fromhex(payload["payload"]),
                verify_on_chain=verify,
                callback_contract=_hash_text(payload["callback_contract"]),
                callback_method=str(payload["callback_method"]),
                gas_for_response=int(payload["gas_for_response"]),
                block_index=int(payload["block_index"]),
                tx_hash=_tx_hash_text(payload["tx_hash"]),
                notification_index=int(payload["notification_index"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidN3Message(f"malformed N3 request payload: {e}") from e


def decode_request(
    network_magic: int,
    notification: Mapping[str, Any],
    *,
    block_index: int,
    tx_hash: str,
    notification_index: int,
) -> N3Request:
    """Decode one gateway ``Request`` notification (as ``getapplicationlog`` returns it)."""
    try:
        if notification.get("eventname") != REQUEST_EVENT:
            raise InvalidN3Message(f"notification is {notification.get('eventname')!r}, not Request")
        gateway = _hash_text(notification["contract"])
        state = notification["state"]
        if state.get("type") != "Array" or len(state["value"]) != len(_FIELDS):
            raise InvalidN3Message(f"a Request notification has {len(_FIELDS)} fields")
        items = state["value"]
        request_id = _int(items[0])
        gas = _int(items[5])
        callback = _bytes(items[3])
        if len(callback) != _HASH160_SIZE:
            raise InvalidN3Message(f"callback contract is {len(callback)} bytes, not {_HASH160_SIZE}")
        if not 1 <= request_id <= _U64_MAX or not 0 <= gas <= _U64_MAX:
            raise InvalidN3Message("request id or gas_for_response out of range")
        return N3Request(
            network_magic=network_magic,
            gateway=gateway,
            request_id=request_id,
            service=_bytes(items[1]).decode("utf-8"),
            payload=_bytes(items[2]),
            verify_on_chain=_bool(items[6]),
            callback_contract="0x" + callback[::-1].hex(),  # serialized little-endian -> display form
            callback_method=_bytes(items[4]).decode("utf-8"),
            gas_for_response=gas,
            block_index=block_index,
            tx_hash=_tx_hash_text(tx_hash),
            notification_index=notification_index,
        )
    except InvalidN3Message:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as e:
        # UnicodeDecodeError is a ValueError; binascii.Error: bad base64.
        raise InvalidN3Message(f"malformed Request notification: {e!r}") from e


def _int(item: Mapping[str, Any]) -> int:
    if item.get("type") != "Integer":
        raise InvalidN3Message(f"expected an Integer, got {item.get('type')!r}")
    return int(item["value"])


def _bytes(item: Mapping[str, Any]) -> bytes:
    if item.get("type") not in _BYTES_TYPES:
        raise InvalidN3Message(f"expected a ByteString, got {item.get('type')!r}")
    return base64.b64decode(item["value"], validate=True)


def _bool(item: Mapping[str, Any]) -> bool:
    value = item.get("value")
    if item.get("type") == "Boolean" and isinstance(value, bool):
        return value
    if item.get("type") == "Integer" and str(value) in ("0", "1"):  # NeoVM may hand a bool as 0 / 1
        return str(value) == "1"
    raise InvalidN3Message(f"expected a Boolean, got {item.get('type')!r}")


def _hex_text(value: Any, size: int, what: str) -> str:
    text = str(value).lower()
    if not text.startswith("0x") or len(text) != 2 + 2 * size:
        raise ValueError(f"not a 0x-prefixed {what}: {value!r}")
    bytes.fromhex(text[2:])
    return text


def _hash_text(value: Any) -> str:
    return _hex_text(value, _HASH160_SIZE, "script hash")


def _tx_hash_text(value: Any) -> str:
    return _hex_text(value, 32, "transaction hash")


# get_request's record: [requester, service, payload hash, callback, method, gas_for_response,
# verify_on_chain, paid, vrf_key_version (4 bytes little-endian)] (contracts/nsl_gateway.py).
_PAID_INDEX = 7
_VRF_KEY_VERSION_INDEX = 8
_VRF_KEY_VERSION_SIZE = 4


@dataclass(frozen=True, slots=True)
class N3StoredRequest:
    """What the fulfiller takes from the gateway's record of a pending request."""

    paid: int  # datoshi the request was charged: the fee and gas_for_response (the relayer's budget)
    vrf_key_version: int  # the VRF key version it is pinned to (0: a service without one)

    @classmethod
    def from_stack(cls, item: dict[str, Any]) -> N3StoredRequest:
        """From ``get_request``'s Array stack item; N3RpcError if it is not the gateway's record."""
        try:
            fields = item["value"]
            version = base64.b64decode(fields[_VRF_KEY_VERSION_INDEX]["value"], validate=True)
            if len(version) != _VRF_KEY_VERSION_SIZE:
                raise ValueError("a key version is 4 bytes")
            return cls(int(fields[_PAID_INDEX]["value"]), int.from_bytes(version, "little"))
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise N3RpcError("get_request", 0, "the stored request is not an NSLGateway record") from e

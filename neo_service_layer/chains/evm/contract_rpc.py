"""What a relayer asks an EVM node about one NSL contract it sends to: gas estimates and revert reasons
decoded with the contract's custom errors, fees, nonces, receipts, broadcasts.

The base of :class:`~neo_service_layer.chains.evm.gateway_rpc.GatewayRpc` (the gateway) and
:class:`~neo_service_layer.chains.evm.price_feed_rpc.PriceFeedRpc` (an ``NSLPriceFeed``), and what
:class:`~neo_service_layer.chains.evm.relay.EvmRelay` sends through. Calls are blocking web3.py calls: the
relay runs them in a thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError
from web3.types import BlockIdentifier, TxParams, TxReceipt

_ERROR_STRING = keccak(text="Error(string)")[:4]


@dataclass(frozen=True, slots=True)
class Fees:
    """EIP-1559 fees per gas, in wei (and the base fee they were read with, when known)."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    base_fee_per_gas: int = 0


class WouldRevert(Exception):
    """A call or gas estimate reverted; ``reason`` is the decoded custom error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def selector(signature: str) -> bytes:
    """The 4-byte selector of a function or error signature."""
    return keccak(text=signature)[:4]


def error_table(signatures: tuple[str, ...]) -> dict[bytes, str]:
    """Selector → signature of custom errors (``"Name(type,...)"``), for :func:`decode_error`."""
    return {selector(sig): sig for sig in signatures}


def decode_error(data: bytes | None, errors: Mapping[bytes, str]) -> str:
    """A revert's data as ``Name(args)`` for the custom errors of ``errors`` (``unknown(0x…)`` otherwise)."""
    if not data:
        return "no revert data"
    signature = errors.get(data[:4])
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
    """The error name of :func:`decode_error`'s output (``AlreadyFulfilled``, ...)."""
    return decoded.partition("(")[0]


def _show(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def revert_data(exc: ContractLogicError) -> bytes | None:
    """The raw revert data web3 attached to ``exc``, if any."""
    data = exc.data
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    if isinstance(data, bytes):
        return data
    return None


class ContractRpc:
    """Blocking reads and sends for one contract (run them in a thread); subclasses set ``errors``."""

    #: Selector → signature of the contract's custom errors (its libraries' included).
    errors: ClassVar[Mapping[bytes, str]] = {}

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)

    def decode_revert(self, data: bytes | None) -> str:
        return decode_error(data, self.errors)

    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def estimate_gas(self, sender: str, data: bytes) -> int:
        """``eth_estimateGas`` of a call to the contract; :class:`WouldRevert` with the decoded reason."""
        tx: TxParams = {"from": Web3.to_checksum_address(sender), "to": self.address, "data": HexBytes(data)}
        try:
            return int(self.w3.eth.estimate_gas(tx))
        except ContractLogicError as e:
            raise WouldRevert(self.decode_revert(revert_data(e))) from e

    def revert_reason(self, sender: str, data: bytes, gas: int, block: BlockIdentifier) -> str:
        """Why a mined call reverted: it is replayed with ``eth_call`` on the state after ``block``."""
        tx: TxParams = {
            "from": Web3.to_checksum_address(sender),
            "to": self.address,
            "data": HexBytes(data),
            "gas": gas,
        }
        try:
            self.w3.eth.call(tx, block)
        except ContractLogicError as e:
            return self.decode_revert(revert_data(e))
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

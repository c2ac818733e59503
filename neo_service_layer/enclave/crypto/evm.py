"""EVM helpers for secp256k1 keys: address, transaction signing, EIP-191 and EIP-712 message signing.

Encoding and signing go through eth-account (RLP, typed transactions, EIP-712 struct hashing), whose
secp256k1 backend is coincurve / libsecp256k1 with RFC 6979 nonces, so every signature here is
deterministic and low-s (EIP-2):

- address: the last 20 bytes of ``keccak256(X ‖ Y)`` of the uncompressed public key (Yellow Paper
  §7 / Appendix F), in EIP-55 mixed-case checksum form;
- transactions: EIP-155 legacy transactions (``chainId`` is required, so ``v = chainId * 2 + 35 +
  recid`` and the signature cannot be replayed on another chain) and EIP-1559 (type 2) transactions
  (``v`` = y-parity 0/1); other types (EIP-2930 type 1, EIP-4844 blobs, EIP-7702) are refused;
- EIP-191 version 0x45 (``personal_sign``): ``keccak256("\\x19Ethereum Signed Message:\\n" ‖
  len(message) ‖ message)``;
- EIP-712: ``keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(message))``.

Message signatures are 65 bytes ``r ‖ s ‖ v`` with ``v ∈ {27, 28}`` — the ``evm`` format of
:mod:`neo_service_layer.enclave.crypto.signing`, which verifies them given the message hash
(:func:`eip191_hash` / :func:`eip712_hash`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from eth_abi.exceptions import EncodingError
from eth_account import Account
from eth_account.messages import SignableMessage, encode_defunct, encode_typed_data
from eth_utils.address import to_checksum_address
from eth_utils.exceptions import ValidationError

from neo_service_layer.enclave.crypto import keys
from neo_service_layer.enclave.crypto.errors import InvalidInput, UnsupportedOperation
from neo_service_layer.enclave.crypto.hashing import keccak256
from neo_service_layer.enclave.crypto.keytypes import KeyType

#: Size of an EVM address in bytes.
ADDRESS_SIZE = 20
#: First byte of an EIP-1559 (type 2) typed transaction envelope (EIP-2718).
EIP1559_TX_TYPE = 0x02
#: A legacy transaction is an RLP list: its first byte is at least 0xc0 (Yellow Paper Appendix B).
_RLP_LIST_PREFIX = 0xC0

# What eth-account / eth-utils / eth-abi raise for malformed transactions and typed data.
_ETH_INPUT_ERRORS = (TypeError, ValueError, KeyError, ValidationError, EncodingError)


class SignedEvmTransaction(NamedTuple):
    """A signed transaction ready for ``eth_sendRawTransaction`` and its hash (the transaction id)."""

    raw_transaction: bytes
    tx_hash: bytes


def address(public_key: bytes) -> str:
    """The EIP-55 checksummed address of a secp256k1 public key (compressed or uncompressed)."""
    uncompressed = keys.uncompressed_public_key(KeyType.SECP256K1, public_key)
    return to_checksum_address(keccak256(uncompressed[1:])[-ADDRESS_SIZE:])


def sign_transaction(material: bytes, tx: Mapping[str, Any]) -> SignedEvmTransaction:
    """Sign an EIP-155 legacy or EIP-1559 transaction given as an eth-account transaction dict.

    Fields are eth-account's (``nonce``, ``gas``, ``to``, ``value``, ``data``, ``chainId`` and either
    ``gasPrice`` or ``maxFeePerGas`` / ``maxPriorityFeePerGas``, optional ``type`` / ``accessList``);
    an optional ``from`` must be this key's address. Raises :class:`InvalidInput` for a malformed
    transaction or a missing ``chainId`` and :class:`UnsupportedOperation` for other transaction types.
    """
    keys.validate_material(KeyType.SECP256K1, material)
    chain_id = tx.get("chainId")
    if isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id <= 0:
        raise InvalidInput("EVM transactions need an integer chainId >= 1 (EIP-155 replay protection)")
    try:
        signed = Account.sign_transaction(dict(tx), material)
    except _ETH_INPUT_ERRORS as e:
        raise InvalidInput(f"invalid EVM transaction: {e}") from e
    raw = bytes(signed.raw_transaction)
    if raw[0] != EIP1559_TX_TYPE and raw[0] < _RLP_LIST_PREFIX:
        raise UnsupportedOperation(
            f"EVM transaction type 0x{raw[0]:02x} is not supported (only legacy EIP-155 and EIP-1559)"
        )
    return SignedEvmTransaction(raw_transaction=raw, tx_hash=bytes(signed.hash))


def eip191_hash(message: bytes) -> bytes:
    """The 32-byte hash an EIP-191 ``personal_sign`` signature signs."""
    return _signable_hash(encode_defunct(primitive=message))


def eip712_hash(typed_data: Mapping[str, Any]) -> bytes:
    """The 32-byte hash an EIP-712 signature of ``typed_data`` (an ``eth_signTypedData_v4`` message) signs."""
    return _signable_hash(_encode_typed_data(typed_data))


def sign_message_eip191(material: bytes, message: bytes) -> bytes:
    """EIP-191 ``personal_sign`` signature of ``message``: 65 bytes ``r ‖ s ‖ v``, ``v ∈ {27, 28}``."""
    keys.validate_material(KeyType.SECP256K1, material)
    return bytes(Account.sign_message(encode_defunct(primitive=message), material).signature)


def sign_typed_data_eip712(material: bytes, typed_data: Mapping[str, Any]) -> bytes:
    """EIP-712 signature of ``typed_data`` (``types``, ``primaryType``, ``domain``, ``message``): 65 bytes."""
    keys.validate_material(KeyType.SECP256K1, material)
    return bytes(Account.sign_message(_encode_typed_data(typed_data), material).signature)


def _encode_typed_data(typed_data: Mapping[str, Any]) -> SignableMessage:
    try:
        return encode_typed_data(full_message=dict(typed_data))
    except _ETH_INPUT_ERRORS as e:
        raise InvalidInput(f"invalid EIP-712 typed data: {e}") from e


def _signable_hash(message: SignableMessage) -> bytes:
    # EIP-191: 0x19 ‖ version byte ‖ version-specific data ‖ data to sign.
    return keccak256(b"\x19" + message.version + message.header + message.body)

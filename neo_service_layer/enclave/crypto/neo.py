"""Neo N3 helpers for secp256r1 keys: verification script, script hash, address and witness signing.

Everything N3-specific is delegated to neo-mamba (``neo3``), which mirrors the C# reference node and
neo-go:

- verification script of a standard account: ``PUSHDATA1 0x21 <33-byte compressed key> SYSCALL
  System.Crypto.CheckSig`` (40 bytes; neo-mamba ``contracts.utils.create_signature_redeemscript``,
  neo-go ``smartcontract.CreateSignatureRedeemScript``);
- script hash: ``UInt160 = RIPEMD160(SHA256(script))``, stored little-endian and displayed reversed
  with ``0x`` (neo-mamba ``core.utils.to_script_hash``, neo-go ``hash.Hash160`` / ``Uint160.StringLE``);
- address: Base58Check of ``0x35 ‖ script hash`` (neo-mamba ``wallet.utils.script_hash_to_address``,
  neo-go ``address.Uint160ToString``);
- transaction witness: the signed data is ``network magic (uint32 little-endian) ‖ SHA256(unsigned
  tx)`` (neo-mamba ``Account.sign_tx``, neo-go ``hash.GetSignedData``, C# ``Helper.GetSignData``);
  the signature is ECDSA-P256-SHA256 over it, raw ``r ‖ s`` (64 bytes), the invocation script is
  ``PUSHDATA1 0x40 <signature>``.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from neo3 import vm
from neo3.contracts import utils as contract_utils
from neo3.core import cryptography as neo_crypto
from neo3.core import serialization, types
from neo3.core import utils as core_utils
from neo3.network.payloads.transaction import Transaction
from neo3.network.payloads.verification import Witness
from neo3.wallet import utils as wallet_utils

from neo_service_layer.enclave.crypto import keys, signing
from neo_service_layer.enclave.crypto.errors import InvalidInput
from neo_service_layer.enclave.crypto.keytypes import HashAlgorithm, KeyType, SignatureFormat

#: Address version byte of N3 MainNet and TestNet (neo-go ``address.NEO3Prefix``).
ADDRESS_VERSION = 0x35


class N3Witness(NamedTuple):
    """The parts of a standard-account witness for one transaction."""

    signature: bytes  #: raw r ‖ s, 64 bytes
    invocation_script: bytes  #: PUSHDATA1 0x40 <signature>, 66 bytes
    verification_script: bytes  #: PUSHDATA1 0x21 <public key> SYSCALL CheckSig, 40 bytes


def verification_script(public_key: bytes) -> bytes:
    """The 40-byte standard-account verification script of a secp256r1 public key."""
    return contract_utils.create_signature_redeemscript(_ec_point(public_key))


def script_hash(public_key: bytes) -> bytes:
    """The account's script hash as the 20 bytes N3 serializes (little-endian)."""
    return _script_hash(public_key).to_array()


def script_hash_hex(public_key: bytes) -> str:
    """The account's script hash as N3 tools display it: ``0x`` + big-endian hex."""
    return f"0x{_script_hash(public_key)}"


def address(public_key: bytes, *, address_version: int = ADDRESS_VERSION) -> str:
    """The N3 address (Base58Check, version ``0x35``) of a secp256r1 public key."""
    return wallet_utils.script_hash_to_address(_script_hash(public_key), address_version)


def transaction_hash(tx_bytes: bytes) -> bytes:
    """SHA256 of the unsigned part of a serialized transaction (the tx id's 32 bytes, little-endian)."""
    return _parse_transaction(tx_bytes).hash().to_array()


def sign_data(tx_bytes: bytes, network_magic: int) -> bytes:
    """The 36 bytes a witness signs: ``uint32le(network_magic) ‖ SHA256(unsigned tx)``."""
    if not 0 <= network_magic <= 0xFFFFFFFF:
        raise InvalidInput(f"network magic must be a uint32, got {network_magic}")
    return network_magic.to_bytes(4, "little") + transaction_hash(tx_bytes)


def sign_n3_transaction(material: bytes, tx_bytes: bytes, network_magic: int) -> N3Witness:
    """Sign a serialized N3 transaction with a secp256r1 key and build the standard witness.

    ``tx_bytes`` is the transaction as serialized on the network (``Transaction.to_array()``), with
    or without witnesses; only the unsigned part is signed. Whether the key's script hash is one of
    the signers is not checked (a key may also sign for a multi-signature account).
    """
    data = sign_data(tx_bytes, network_magic)
    signature = signing.sign(
        KeyType.SECP256R1, material, data, hash_alg=HashAlgorithm.SHA256, fmt=SignatureFormat.RAW
    )
    builder = vm.ScriptBuilder()  # type: ignore[no-untyped-call]
    invocation = builder.emit_push(signature).to_array()
    return N3Witness(
        signature=signature,
        invocation_script=bytes(invocation),
        verification_script=verification_script(keys.public_key(KeyType.SECP256R1, material)),
    )


def _ec_point(public_key: bytes) -> neo_crypto.ECPoint:
    compressed = keys.normalize_public_key(KeyType.SECP256R1, public_key)  # raises InvalidKeyMaterial
    return neo_crypto.ECPoint(compressed, neo_crypto.ECCCurve.SECP256R1, True)  # type: ignore[no-untyped-call]


def _script_hash(public_key: bytes) -> types.UInt160:
    return core_utils.to_script_hash(verification_script(public_key))


def _parse_transaction(tx_bytes: bytes) -> Transaction:
    """Parse with neo-mamba; accept the unsigned part alone or followed by a well-formed witness list."""
    tx = Transaction(version=0, nonce=0, system_fee=0, network_fee=0, valid_until_block=0)
    try:
        with serialization.BinaryReader(tx_bytes) as reader:
            tx.deserialize_unsigned(reader)
        with serialization.BinaryWriter() as writer:
            tx.serialize_unsigned(writer)
            unsigned = writer.to_array()
        rest = tx_bytes[len(unsigned) :]
        if tx_bytes[: len(unsigned)] != unsigned:
            raise ValueError("non-canonical transaction encoding")
        if rest:
            with serialization.BinaryReader(rest) as reader:
                witnesses = reader.read_serializable_list(Witness)
            with serialization.BinaryWriter() as writer:
                writer.write_serializable_list(witnesses)
                if writer.to_array() != rest:
                    raise ValueError("trailing bytes after the witnesses")
    except (ValueError, struct.error) as e:  # neo-mamba's reader raises struct.error on short input
        raise InvalidInput(f"not a serialized Neo N3 transaction: {e}") from e
    return tx

"""The keys service's enclave ops (handlers: ``handlers/keys.py``), their schemas, the backup blob format.

Every op that uses a key version takes :class:`KeyVersionArgs`: the key id, version and type (signed
request parameters, what the client asked for) plus the version's wrapped material and the sealed
account master key (AMK) that wraps it (both :data:`UNSIGNED`: host-held blobs, never part of what a
result signature covers). Fixed-size values in results — public keys, signatures, MACs, hashes — are
lowercase hex (docs/enclave.md §1); variable-length data (plaintext, ciphertext) is base64.

Key backup blob (``keys.backup`` / ``keys.restore``)::

    header  = "NSLKB1" ‖ uint32be(amk_version) ‖ uint8(len(key_id)) ‖ key_id
    blob    = header ‖ AES-256-GCM(backup_key, nonce, payload, aad)     (nonce ‖ ciphertext ‖ tag)
    backup_key = HKDF-SHA256(ikm = AMK of amk_version, salt = none, info = "nsl-key-backup-v1")  (RFC 5869)
    aad     = "nsl-key-backup-v1" ‖ 0x00 ‖ account_id ‖ 0x00 ‖ header
    payload = canonical JSON {"key_type", "policy", "versions": [{"version", "material"}]}

The header is readable by the host (it must fetch that AMK version), and authenticated: a blob moved
to another account, renamed to another key or altered fails to open.
"""

from __future__ import annotations

import struct
from typing import Annotated, Any, Final

from pydantic import BeforeValidator, Field, PlainSerializer

from neo_service_layer.enclave.canonical import B64Bytes
from neo_service_layer.enclave.crypto.keytypes import HashAlgorithm, KeyType, SignatureFormat
from neo_service_layer.enclave.opdefs.amk import SealedAmk
from neo_service_layer.enclave.opdefs.base import Op, SignedOp
from neo_service_layer.enclave.schemas import (
    UNSIGNED,
    EnclaveModel,
    EvmAddress,
    SealedBytes,
    SignedArgs,
)
from neo_service_layer.ids import AccountId, ResourceId

MAX_KEY_VERSION: Final = 2**31 - 1
MAX_BACKUP_VERSIONS: Final = 1000

BACKUP_MAGIC: Final = b"NSLKB1"
BACKUP_LABEL: Final = b"nsl-key-backup-v1"
_BACKUP_HEADER = struct.Struct(">6sIB")


def _from_hex(value: object) -> object:
    if isinstance(value, str):
        if value != value.lower() or len(value) % 2:
            raise ValueError("not lowercase hex with an even number of digits")
        try:
            return bytes.fromhex(value)
        except ValueError as exc:
            raise ValueError("not hex") from exc
    return value


# Binary values that travel as lowercase hex (signatures, MACs, public keys, hashes).
HexBytes = Annotated[bytes, BeforeValidator(_from_hex), PlainSerializer(bytes.hex, return_type=str)]
KeyVersionNumber = Annotated[int, Field(ge=1, le=MAX_KEY_VERSION)]
# Enums travel as their string values; ``strict=False`` lets the strict model accept the string.
KeyTypeField = Annotated[KeyType, Field(strict=False)]
HashField = Annotated[HashAlgorithm, Field(strict=False)]
FormatField = Annotated[SignatureFormat, Field(strict=False)]
UnsignedAmk = Annotated[SealedAmk, UNSIGNED]


class GenerateArgs(EnclaveModel):
    account_id: AccountId
    key_id: ResourceId
    version: KeyVersionNumber
    key_type: KeyTypeField
    amk: SealedAmk


class GenerateResult(EnclaveModel):
    """The new version's material wrapped under the AMK, and its public key (asymmetric types)."""

    wrapped: B64Bytes
    public_key: HexBytes | None


class KeyVersionArgs(SignedArgs):
    """One key version: signed ``key_id``, ``version``, ``key_type``; unsigned AMK and wrapped material."""

    key_id: ResourceId
    version: KeyVersionNumber
    key_type: KeyTypeField
    amk: UnsignedAmk
    material: SealedBytes


class SignArgs(KeyVersionArgs):
    data: B64Bytes  # the message, or a 32-byte digest with hash "none"
    hash: HashField
    format: FormatField


class SignResult(EnclaveModel):
    key_id: str
    version: int
    hash: HashField
    format: FormatField
    public_key: HexBytes
    signature: HexBytes


class VerifyArgs(SignArgs):
    signature: HexBytes


class ValidResult(EnclaveModel):
    key_id: str
    version: int
    valid: bool


class EncryptArgs(KeyVersionArgs):
    plaintext: B64Bytes
    context: B64Bytes


class CiphertextResult(EnclaveModel):
    key_id: str
    version: int
    ciphertext: B64Bytes


class DecryptArgs(KeyVersionArgs):
    ciphertext: B64Bytes
    context: B64Bytes


class PlaintextResult(EnclaveModel):
    key_id: str
    version: int
    plaintext: B64Bytes


class RewrapArgs(DecryptArgs):
    """Decrypt under ``version`` and encrypt again under ``target_version`` of the same key."""

    target_version: KeyVersionNumber
    target_amk: UnsignedAmk
    target_material: SealedBytes


class DataKeyArgs(KeyVersionArgs):
    context: B64Bytes
    include_plaintext: bool


class DataKeyResult(EnclaveModel):
    key_id: str
    version: int
    ciphertext: B64Bytes
    plaintext: B64Bytes | None


class HmacArgs(KeyVersionArgs):
    data: B64Bytes


class HmacResult(EnclaveModel):
    key_id: str
    version: int
    mac: HexBytes


class HmacVerifyArgs(HmacArgs):
    mac: HexBytes


class N3SignTxArgs(KeyVersionArgs):
    transaction: B64Bytes
    network_magic: Annotated[int, Field(ge=0, le=0xFFFFFFFF)]


class N3SignTxResult(EnclaveModel):
    key_id: str
    version: int
    public_key: HexBytes
    tx_hash: str  # 0x + big-endian hex, as Neo tools display transaction ids
    signature: HexBytes
    invocation_script: HexBytes
    verification_script: HexBytes


class EvmSignTxArgs(KeyVersionArgs):
    # eth-account's transaction dict; integers above 2^53 - 1 as 0x-hex strings (canonical JSON).
    transaction: dict[str, Any]


class EvmSignTxResult(EnclaveModel):
    key_id: str
    version: int
    address: EvmAddress
    raw_transaction: HexBytes
    tx_hash: HexBytes


class EvmSignMessageArgs(KeyVersionArgs):
    message: B64Bytes


class EvmSignTypedDataArgs(KeyVersionArgs):
    typed_data: dict[str, Any]


class EvmSignatureResult(EnclaveModel):
    key_id: str
    version: int
    address: EvmAddress
    hash: HexBytes
    signature: HexBytes  # r ‖ s ‖ v, v ∈ {27, 28}


class WrappedVersion(EnclaveModel):
    version: KeyVersionNumber
    amk_version: Annotated[int, Field(ge=1)]
    material: B64Bytes


class BackupArgs(EnclaveModel):
    account_id: AccountId
    key_id: ResourceId
    key_type: KeyTypeField
    policy: dict[str, Any]  # the host's key policy, returned unchanged by restore
    target: SealedAmk  # the AMK version the backup key is derived from
    amks: Annotated[list[SealedAmk], Field(min_length=1, max_length=64)]  # those the versions use
    versions: Annotated[list[WrappedVersion], Field(min_length=1, max_length=MAX_BACKUP_VERSIONS)]


class BackupResult(EnclaveModel):
    backup: B64Bytes


class RestoreArgs(EnclaveModel):
    account_id: AccountId
    key_id: ResourceId
    backup: B64Bytes
    source: SealedAmk  # the AMK version named in the backup's header
    target: SealedAmk  # the AMK version the restored versions are wrapped under


class RestoredVersion(EnclaveModel):
    version: int
    wrapped: B64Bytes
    public_key: HexBytes | None


class RestoreResult(EnclaveModel):
    key_type: KeyTypeField
    policy: dict[str, Any]
    versions: list[RestoredVersion]


def backup_header(amk_version: int, key_id: str) -> bytes:
    encoded = key_id.encode("ascii")
    return _BACKUP_HEADER.pack(BACKUP_MAGIC, amk_version, len(encoded)) + encoded


def parse_backup_header(blob: bytes) -> tuple[int, str, int]:
    """``(amk_version, key_id, header length)`` of a backup blob; ValueError if it is not one."""
    if len(blob) < _BACKUP_HEADER.size:
        raise ValueError("too short for a key backup")
    magic, amk_version, id_length = _BACKUP_HEADER.unpack_from(blob)
    if magic != BACKUP_MAGIC or amk_version < 1:
        raise ValueError("not an NSL key backup")
    end = _BACKUP_HEADER.size + id_length
    if len(blob) <= end:
        raise ValueError("truncated key backup")
    try:
        key_id = blob[_BACKUP_HEADER.size : end].decode("ascii")
    except UnicodeDecodeError as exc:
        raise ValueError("key id is not ASCII") from exc
    return amk_version, key_id, end


def backup_aad(account_id: str, header: bytes) -> bytes:
    return BACKUP_LABEL + b"\x00" + account_id.encode() + b"\x00" + header


def material_context(key_id: str, version: int) -> str:
    """The wrap context of a key version's material: ``"<key_id>:<version>"`` (the host rewraps it too)."""
    return f"{key_id}:{version}"


GENERATE: Final = Op("keys.generate", GenerateArgs, GenerateResult)
SIGN: Final = SignedOp("keys.sign", SignArgs, SignResult)
VERIFY: Final = SignedOp("keys.verify", VerifyArgs, ValidResult)
ENCRYPT: Final = SignedOp("keys.encrypt", EncryptArgs, CiphertextResult)
DECRYPT: Final = SignedOp("keys.decrypt", DecryptArgs, PlaintextResult)
REWRAP: Final = SignedOp("keys.rewrap", RewrapArgs, CiphertextResult)
DATAKEY: Final = SignedOp("keys.datakey", DataKeyArgs, DataKeyResult)
HMAC: Final = SignedOp("keys.hmac", HmacArgs, HmacResult)
HMAC_VERIFY: Final = SignedOp("keys.hmac_verify", HmacVerifyArgs, ValidResult)
N3_SIGN_TX: Final = SignedOp("keys.n3_sign_tx", N3SignTxArgs, N3SignTxResult)
EVM_SIGN_TX: Final = SignedOp("keys.evm_sign_tx", EvmSignTxArgs, EvmSignTxResult)
EVM_SIGN_MESSAGE: Final = SignedOp("keys.evm_sign_message", EvmSignMessageArgs, EvmSignatureResult)
EVM_SIGN_TYPED_DATA: Final = SignedOp("keys.evm_sign_typed_data", EvmSignTypedDataArgs, EvmSignatureResult)
BACKUP: Final = Op("keys.backup", BackupArgs, BackupResult)
RESTORE: Final = Op("keys.restore", RestoreArgs, RestoreResult)

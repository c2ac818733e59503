"""Request and response bodies of ``/v1/keys``.

Binary inputs are standard base64 (canonical, with padding) or lowercase hex where the value has a
fixed size (digests, signatures). Every operational response carries ``envelope``: the enclave's
signed result unchanged (``result``, ``request_hash``, ``result_hash``, ``signatures``), which
``neo_service_layer.client.verify_result`` checks offline (docs/keys.md lists the signed ``params``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema, model_validator

from neo_service_layer.api.routes.schemas import NAME_FIELD, StrictBody
from neo_service_layer.enclave.canonical import b64decode
from neo_service_layer.enclave.crypto.keytypes import HashAlgorithm, KeyType, SignatureFormat
from neo_service_layer.enclave.schemas import SignedResult
from neo_service_layer.services.keys import policy
from neo_service_layer.services.keys.models import Key, KeyState, KeyVersion
from neo_service_layer.services.keys.policy import Operation
from neo_service_layer.services.keys.public import addresses

MAX_KEY_VERSION = 2**31 - 1
MAX_DATA_CHARS = 700_000  # ~512 KiB of base64; the body limit (1 MiB by default) applies as well
MAX_CIPHERTEXT_CHARS = MAX_DATA_CHARS + 32


def _base64(value: str) -> str:
    try:
        b64decode(value)
    except ValueError as exc:
        raise ValueError("must be standard base64 with padding") from exc
    return value


def _hex(value: str) -> str:
    text = value.removeprefix("0x")
    if len(text) % 2 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise ValueError("must be hex (an even number of digits, optional 0x)")
    return text.lower()


Base64 = Annotated[
    str,
    Field(max_length=MAX_DATA_CHARS),
    AfterValidator(_base64),
    WithJsonSchema({"type": "string", "format": "byte", "contentEncoding": "base64"}),
]
Hex = Annotated[
    str,
    Field(max_length=1024),
    AfterValidator(_hex),
    WithJsonSchema({"type": "string", "pattern": "^(0x)?([0-9a-fA-F]{2})*$"}),
]
VersionField = Field(default=None, strict=True, ge=1, le=MAX_KEY_VERSION, description="Default: latest")
VersionedText = Annotated[
    str, Field(min_length=1, max_length=MAX_CIPHERTEXT_CHARS, description="nsl:v<version>:<base64>")
]


# --- lifecycle ---


class KeyCreateIn(StrictBody):
    name: str = NAME_FIELD
    type: KeyType
    exportable: bool = Field(default=False, strict=True, description="Allows sealed backups of the key")
    allowed_operations: list[Operation] | None = Field(
        default=None, max_length=len(Operation), description="Default: every operation the type supports"
    )


class KeyPatchIn(StrictBody):
    min_decryption_version: int | None = Field(default=None, strict=True, ge=1, le=MAX_KEY_VERSION)
    min_encryption_version: int | None = Field(
        default=None, strict=True, ge=0, le=MAX_KEY_VERSION, description="0: the latest version"
    )
    allowed_operations: list[Operation] | None = Field(default=None, max_length=len(Operation))
    exportable: bool | None = Field(default=None, strict=True)


class ScheduleDeletionIn(StrictBody):
    pending_days: int = Field(
        default=policy.DEFAULT_PENDING_DAYS,
        strict=True,
        ge=policy.MIN_PENDING_DAYS,
        le=policy.MAX_PENDING_DAYS,
        description="Days until the key is deleted (7-30)",
    )


class RestoreIn(StrictBody):
    backup: Base64


class KeyVersionOut(BaseModel):
    version: int
    created_at: datetime
    public_key: str | None = Field(
        description="hex: SEC 1 compressed (EC), RFC 8032 (ed25519) or compressed G1 (bls12381)"
    )
    n3_address: str | None = None
    n3_script_hash: str | None = None
    evm_address: str | None = None

    @classmethod
    def of(cls, key_type: KeyType, row: KeyVersion) -> KeyVersionOut:
        derived = addresses(key_type, row.public_key)
        return cls(
            version=row.version,
            created_at=row.created_at,
            public_key=row.public_key.hex() if row.public_key is not None else None,
            n3_address=derived.n3_address,
            n3_script_hash=derived.n3_script_hash,
            evm_address=derived.evm_address,
        )


class KeySummary(BaseModel):
    id: str
    name: str
    type: KeyType
    state: KeyState
    latest_version: int
    min_decryption_version: int
    min_encryption_version: int
    exportable: bool
    allowed_operations: list[str]
    deletion_date: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, key: Key) -> KeySummary:
        return cls(**_summary_fields(key))


def _summary_fields(key: Key) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "type": key.type,
        "state": key.state,
        "latest_version": key.latest_version,
        "min_decryption_version": key.min_decryption_version,
        "min_encryption_version": key.min_encryption_version,
        "exportable": key.exportable,
        "allowed_operations": list(key.allowed_operations),
        "deletion_date": key.deletion_date,
        "created_at": key.created_at,
        "updated_at": key.updated_at,
    }


class KeyOut(KeySummary):
    versions: list[KeyVersionOut]

    @classmethod
    def with_versions(cls, key: Key, rows: list[KeyVersion]) -> KeyOut:
        return cls(**_summary_fields(key), versions=[KeyVersionOut.of(key.type, row) for row in rows])


class PublicKeyOut(BaseModel):
    key_id: str
    version: int
    type: KeyType
    format: Literal["hex", "pem"]
    public_key: str
    n3_address: str | None = None
    n3_script_hash: str | None = None
    evm_address: str | None = None


class BackupOut(BaseModel):
    key_id: str
    backup: str = Field(description="base64; restores only into this account (POST /v1/keys/restore)")


# --- operations ---


class SignIn(StrictBody):
    message: Base64 | None = Field(default=None, description="The message (base64), hashed with `hash`")
    digest: Hex | None = Field(default=None, description="A 32-byte digest (hex) signed as is")
    hash: HashAlgorithm | None = Field(default=None, description="Default: the key type's")
    format: SignatureFormat | None = Field(default=None, description="Default: raw")
    version: int | None = VersionField

    @model_validator(mode="after")
    def _one_input(self) -> Self:
        if (self.message is None) == (self.digest is None):
            raise ValueError("give exactly one of message and digest")
        return self

    @property
    def data(self) -> bytes:
        return b64decode(self.message) if self.message is not None else bytes.fromhex(self.digest or "")


class VerifyIn(SignIn):
    signature: Hex


class EncryptIn(StrictBody):
    plaintext: Base64
    context: Base64 = Field(default="", description="Encryption context (AEAD associated data), base64")
    version: int | None = VersionField


class DecryptIn(StrictBody):
    ciphertext: VersionedText
    context: Base64 = ""


class DataKeyIn(StrictBody):
    mode: Literal["plaintext", "wrapped"] = Field(
        default="plaintext",
        description="plaintext: the data key and its ciphertext; wrapped: ciphertext only",
    )
    context: Base64 = ""
    version: int | None = VersionField


class HmacIn(StrictBody):
    data: Base64
    version: int | None = VersionField


class HmacVerifyIn(StrictBody):
    data: Base64
    hmac: VersionedText


class NeoSignTransactionIn(StrictBody):
    transaction: Base64 = Field(description="The serialized transaction (with or without witnesses)")
    network_magic: int = Field(strict=True, ge=0, le=0xFFFFFFFF, description="e.g. 860833102 (MainNet)")
    version: int | None = VersionField


class EvmSignTransactionIn(StrictBody):
    transaction: dict[str, Any] = Field(
        description="eth-account fields (chainId required; EIP-155 legacy or EIP-1559); integers above "
        "2^53 - 1 as 0x-hex strings"
    )
    version: int | None = VersionField


class EvmSignMessageIn(StrictBody):
    message: Base64
    version: int | None = VersionField


class EvmSignTypedDataIn(StrictBody):
    typed_data: dict[str, Any] = Field(description="eth_signTypedData_v4 JSON; big integers as strings")
    version: int | None = VersionField


class Operational(BaseModel):
    key_id: str
    version: int
    envelope: SignedResult = Field(description="The enclave's signed result (verify with verify_result)")


class SignOut(Operational):
    signature: str = Field(description="hex: raw r||s, DER, or EVM r||s||v")
    public_key: str
    hash: HashAlgorithm
    format: SignatureFormat


class ValidOut(Operational):
    valid: bool


class CiphertextOut(Operational):
    ciphertext: str


class PlaintextOut(Operational):
    plaintext: str


class DataKeyOut(Operational):
    ciphertext: str
    plaintext: str | None


class HmacOut(Operational):
    hmac: str


class NeoSignTransactionOut(Operational):
    tx_hash: str
    public_key: str
    signature: str
    invocation_script: str
    verification_script: str


class EvmSignTransactionOut(Operational):
    address: str
    raw_transaction: str
    tx_hash: str


class EvmSignatureOut(Operational):
    address: str
    hash: str
    signature: str

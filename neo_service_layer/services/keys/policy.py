"""The key policy: which operations a key may do, which version each operation uses, and key states.

Modelled on OpenBao/Vault transit's key policy (``sdk/helper/keysutil/policy.go``) and AWS KMS key
states:

- operations a key *can* do come from its type's capabilities (``KeyType.can_sign`` ...); the
  policy's ``allowed_operations`` is a subset chosen at creation (default: all of them);
- versions: ``latest_version`` grows by one per rotation; operations that produce something
  (sign, encrypt, HMAC, data keys, chain signing) use the latest version unless the caller names
  one, which must be at least ``min_encryption_version`` (0 = no minimum) and ``min_decryption_version``;
  operations that consume something (decrypt, verify, HMAC verify, rewrap's source) refuse versions
  below ``min_decryption_version`` (Vault transit ``min_decryption_version`` / ``min_encryption_version``);
- ``min_decryption_version`` is within ``[1, latest]``; ``min_encryption_version`` is 0 or within
  ``[min_decryption_version, latest]`` (as Vault refuses a minimum encryption version below the
  minimum decryption version);
- states (AWS KMS ``Enabled`` / ``Disabled`` / ``PendingDeletion``): a disabled key or one pending
  deletion refuses every operation (409); once its deletion date has passed it is gone (404).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime

from neo_service_layer.enclave.crypto.keytypes import KeyType
from neo_service_layer.services.keys.errors import (
    InvalidKeyPolicy,
    InvalidKeyVersion,
    KeyDisabled,
    KeyOperationNotAllowed,
    KeyOperationUnsupported,
    KeyPendingDeletion,
    KeyVersionBelowMinimum,
)
from neo_service_layer.services.keys.models import Key, KeyState

MIN_PENDING_DAYS = 7
MAX_PENDING_DAYS = 30
DEFAULT_PENDING_DAYS = 30


class Operation(enum.StrEnum):
    """What a key may be allowed to do (the names of ``allowed_operations``; stable)."""

    SIGN = "sign"
    VERIFY = "verify"
    ENCRYPT = "encrypt"
    DECRYPT = "decrypt"
    REWRAP = "rewrap"
    DATAKEY = "datakey"
    HMAC = "hmac"
    HMAC_VERIFY = "hmac_verify"
    NEO_SIGN_TRANSACTION = "neo_sign_transaction"
    EVM_SIGN_TRANSACTION = "evm_sign_transaction"
    EVM_SIGN_MESSAGE = "evm_sign_message"
    EVM_SIGN_TYPED_DATA = "evm_sign_typed_data"
    VRF = "vrf"  # prove verifiable random outputs (the randomness service, docs/randomness.md)

    @property
    def consumes(self) -> bool:
        """True for operations that check something made earlier (the decryption side of the rules)."""
        return self in (Operation.VERIFY, Operation.DECRYPT, Operation.REWRAP, Operation.HMAC_VERIFY)


def supported_operations(key_type: KeyType) -> list[Operation]:
    """Every operation ``key_type`` can do, from its capabilities, in declaration order."""
    ops: set[Operation] = set()
    if key_type.can_sign:
        ops |= {Operation.SIGN, Operation.VERIFY}
    if key_type is KeyType.SECP256R1:
        ops.add(Operation.NEO_SIGN_TRANSACTION)
    if key_type is KeyType.SECP256K1:
        ops |= {Operation.EVM_SIGN_TRANSACTION, Operation.EVM_SIGN_MESSAGE, Operation.EVM_SIGN_TYPED_DATA}
    if key_type.can_encrypt:
        ops |= {Operation.ENCRYPT, Operation.DECRYPT, Operation.REWRAP}
    if key_type.can_generate_data_key:
        ops.add(Operation.DATAKEY)
    if key_type.can_hmac:
        ops |= {Operation.HMAC, Operation.HMAC_VERIFY}
    if key_type.can_vrf:
        ops.add(Operation.VRF)
    return [op for op in Operation if op in ops]


def allowed_operations(key_type: KeyType, requested: Iterable[Operation] | None) -> list[Operation]:
    """The policy's allowed operations: ``requested`` (or all supported ones), checked against the type."""
    supported = supported_operations(key_type)
    if requested is None:
        return supported
    wanted = set(requested)
    unsupported = sorted(op.value for op in wanted if op not in supported)
    if unsupported:
        raise KeyOperationUnsupported(
            f"key type {key_type.value} cannot do {', '.join(unsupported)}",
            supported=[op.value for op in supported],
        )
    return [op for op in supported if op in wanted]


def is_deleted(key: Key, now: datetime) -> bool:
    """Whether the key's deletion date has passed: it no longer exists for anyone."""
    return (
        key.state == KeyState.PENDING_DELETION and key.deletion_date is not None and key.deletion_date <= now
    )


def check_usable(key: Key, op: Operation) -> KeyType:
    """The key's type if it may do ``op`` now; the typed error otherwise."""
    if key.state == KeyState.DISABLED:
        raise KeyDisabled(f"key {key.id} is disabled; enable it first", key_id=key.id)
    if key.state == KeyState.PENDING_DELETION:
        raise KeyPendingDeletion(
            f"key {key.id} is scheduled for deletion; cancel the deletion to use it", key_id=key.id
        )
    if op not in supported_operations(key.type):
        raise KeyOperationUnsupported(f"key type {key.type.value} cannot do {op.value}", operation=op.value)
    if op.value not in key.allowed_operations:
        raise KeyOperationNotAllowed(
            f"the policy of key {key.id} does not allow {op.value}", operation=op.value
        )
    return key.type


def resolve_version(key: Key, op: Operation, requested: int | None) -> int:
    """The key version ``op`` uses: ``requested`` if the rules allow it, else the latest (module docs)."""
    if op.consumes:
        if requested is None:
            return key.latest_version
        if not 1 <= requested <= key.latest_version:
            raise InvalidKeyVersion(f"key {key.id} has no version {requested}", version=requested)
        if requested < key.min_decryption_version:
            raise KeyVersionBelowMinimum(
                f"version {requested} is below the key's min_decryption_version {key.min_decryption_version}",
                version=requested,
            )
        return requested
    if requested is None:
        return key.latest_version
    if not 1 <= requested <= key.latest_version:
        raise InvalidKeyVersion(f"key {key.id} has no version {requested}", version=requested)
    floor = max(key.min_encryption_version, key.min_decryption_version)
    if requested < floor:
        raise KeyVersionBelowMinimum(
            f"version {requested} is below the key's minimum version {floor} for {op.value}",
            version=requested,
        )
    return requested


def check_min_versions(key: Key, min_decryption: int, min_encryption: int) -> None:
    """Refuse minimum versions outside the rules (module docs), with the reason."""
    if not 1 <= min_decryption <= key.latest_version:
        raise InvalidKeyPolicy(
            f"min_decryption_version must be within 1..{key.latest_version} (the latest version)"
        )
    if min_encryption != 0 and not min_decryption <= min_encryption <= key.latest_version:
        raise InvalidKeyPolicy(
            f"min_encryption_version must be 0 or within {min_decryption}..{key.latest_version} "
            "(at least min_decryption_version, at most the latest version)"
        )

"""Errors of the keys service (docs/keys.md). Codes are public API: clients switch on them, never renamed."""

from __future__ import annotations

from neo_service_layer.errors import Conflict, Forbidden, NotFound, ServiceUnavailable, ValidationFailed


class KeyNotFound(NotFound):
    code = "key_not_found"
    title = "Key not found"


class KeyNameTaken(Conflict):
    code = "key_name_taken"
    title = "A key with this name already exists in the account"


class KeyExists(Conflict):
    code = "key_exists"
    title = "The key to restore already exists in the account"


class KeyDisabled(Conflict):
    code = "key_disabled"
    title = "The key is disabled"


class KeyPendingDeletion(Conflict):
    code = "key_pending_deletion"
    title = "The key is scheduled for deletion"


class KeyOperationNotAllowed(Conflict):
    code = "operation_not_allowed"
    title = "The key's policy does not allow this operation"


class KeyNotExportable(Conflict):
    code = "key_not_exportable"
    title = "The key is not exportable"


class KeyReserved(Forbidden):
    code = "key_reserved"
    title = "The key is reserved for the platform"


class KeyOperationUnsupported(ValidationFailed):
    code = "operation_not_supported"
    title = "The key type does not support this operation or parameter"


class InvalidKeyVersion(ValidationFailed):
    code = "invalid_key_version"
    title = "The key has no usable version of that number"


class KeyVersionBelowMinimum(ValidationFailed):
    code = "key_version_below_minimum"
    title = "The key version is below the key's minimum version for this operation"


class InvalidKeyPolicy(ValidationFailed):
    code = "invalid_key_policy"
    title = "The key policy change is not valid"


class InvalidCiphertext(ValidationFailed):
    code = "invalid_ciphertext"
    title = "The ciphertext is not a valid nsl:v<version>:<base64> string"


class InvalidHmac(ValidationFailed):
    code = "invalid_hmac"
    title = "The HMAC is not a valid nsl:v<version>:<base64> string"


class DecryptionFailed(ValidationFailed):
    code = "decryption_failed"
    title = "The ciphertext does not decrypt under this key and context"


class InvalidBackup(ValidationFailed):
    code = "invalid_backup"
    title = "The backup is malformed, damaged or belongs to another account"


class SystemAccountMissing(ServiceUnavailable):
    """The platform has not been bootstrapped (``nsl api`` / ``nsl serve`` create the system account)."""

    code = "system_account_missing"
    title = "System account not bootstrapped"

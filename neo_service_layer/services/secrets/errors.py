"""Errors of the secrets service (docs/secrets.md). Codes are public API, never renamed.

``secret_sealing_failed`` is the Python client's: it is in ``neo_service_layer.errors``.
"""

from __future__ import annotations

from neo_service_layer.errors import Conflict, Gone, NotFound, ValidationFailed


class SecretNotFound(NotFound):
    code = "secret_not_found"
    title = "Secret not found"


class SecretVersionNotFound(NotFound):
    code = "secret_version_not_found"
    title = "The secret has no such version"


class SecretVersionDeleted(Gone):
    code = "secret_version_deleted"
    title = "The secret version is deleted (undelete restores it)"


class SecretVersionDestroyed(Gone):
    code = "secret_version_destroyed"
    title = "The secret version is destroyed for good"


class SecretCasMismatch(Conflict):
    code = "secret_cas_mismatch"
    title = "The secret's current version is not the expected one (check-and-set)"


class SecretCasRequired(ValidationFailed):
    code = "secret_cas_required"
    title = "The secret requires check-and-set: give cas, the version you expect to replace"


class SealedValueStale(Conflict):
    """A sealed write made to replace another version than the current one: a replay of an old write,
    or a value sealed before another write landed. Seal it again for the current version."""

    code = "sealed_value_stale"
    title = "The sealed value was made for another version of the secret"


class SealedValueInvalid(ValidationFailed):
    code = "sealed_value_invalid"
    title = "The sealed value does not open in the enclave or is not for this account and secret"


class RecipientKeyRequired(ValidationFailed):
    code = "recipient_key_required"
    title = (
        "Reading a secret needs the reader's X25519 public key (X-NSL-Recipient-Key header or "
        "recipient query parameter): the value is returned sealed to it, never in the clear"
    )


class RecipientKeyInvalid(ValidationFailed):
    code = "recipient_key_invalid"
    title = "The recipient key is not a usable X25519 public key (64 lowercase hex digits)"


class SecretGrantExists(Conflict):
    code = "secret_grant_exists"
    title = "The secret is already granted to this grantee"


class SecretGrantNotFound(NotFound):
    code = "secret_grant_not_found"
    title = "The secret is not granted to this grantee"

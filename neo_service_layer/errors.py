"""Typed errors with stable string codes.

Every error the platform raises on purpose is an :class:`NSLError`. The ``code`` is part of the public
API (clients switch on it) and is never renamed; ``status`` is the HTTP status the API maps it to
(in one place: ``neo_service_layer.api.problems``). User errors are 4xx, internal errors 5xx.
"""

from __future__ import annotations

from typing import Any, ClassVar


class NSLError(Exception):
    """Base of every deliberate error. Subclasses fix ``code``, ``status`` and ``title``."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)


class BadRequest(NSLError):
    code = "bad_request"
    status = 400
    title = "Bad request"


class MalformedBody(BadRequest):
    code = "malformed_body"
    title = "Request body is not valid JSON"


class ValidationFailed(NSLError):
    code = "validation_failed"
    status = 422
    title = "Request validation failed"


class Unauthenticated(NSLError):
    """``reason`` says why, for metrics, logs and the audit log only (api.auth_failures); the response
    never carries it, so a caller cannot tell an unknown key from a wrong secret."""

    code = "unauthenticated"
    status = 401
    title = "Missing or invalid credentials"
    reason: str = "invalid"

    def __init__(self, detail: str | None = None, *, reason: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        if reason is not None:
            self.reason = reason


class CredentialExpired(Unauthenticated):
    code = "credential_expired"
    title = "Credential has expired"
    reason = "expired"


class CredentialRevoked(Unauthenticated):
    code = "credential_revoked"
    title = "Credential has been revoked"
    reason = "revoked"


class Forbidden(NSLError):
    code = "forbidden"
    status = 403
    title = "Not allowed"


class MissingScope(Forbidden):
    code = "missing_scope"
    title = "The credential lacks a required scope"


class NotFound(NSLError):
    code = "not_found"
    status = 404
    title = "Resource not found"


class MethodNotAllowed(NSLError):
    code = "method_not_allowed"
    status = 405
    title = "Method not allowed"


class Conflict(NSLError):
    code = "conflict"
    status = 409
    title = "Conflict with the current state"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    title = "Idempotency-Key was used with a different request"


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    title = "A request with this Idempotency-Key is still being processed"


class PayloadTooLarge(NSLError):
    code = "payload_too_large"
    status = 413
    title = "Request body too large"


class UnsupportedMediaType(NSLError):
    code = "unsupported_media_type"
    status = 415
    title = "Unsupported media type"


class RateLimited(NSLError):
    code = "rate_limited"
    status = 429
    title = "Too many requests"

    def __init__(self, retry_after: float, limit: str) -> None:
        super().__init__(f"Rate limit of the {limit} exceeded; retry after {retry_after:.1f} s", limit=limit)
        self.retry_after = retry_after


class ServiceUnavailable(NSLError):
    code = "service_unavailable"
    status = 503
    title = "A dependency is unavailable"


class AuditChainBroken(NSLError):
    code = "audit_chain_broken"
    status = 500
    title = "The audit log hash chain does not verify"


class AuditCheckpointRefused(Conflict):
    """The enclave would not sign a checkpoint: the log does not extend its last one (docs/audit.md)."""

    code = "audit_checkpoint_refused"
    title = "The enclave refused to checkpoint the audit log"


class AuditCheckpointsInvalid(ValidationFailed):
    code = "audit_checkpoints_invalid"
    title = "Not a file of exported audit checkpoints"


class ConfigurationError(NSLError):
    code = "configuration_error"
    status = 500
    title = "Invalid configuration"


# --- Enclave (docs/enclave.md). The client maps the enclave's protocol error codes onto these. ---


class EnclaveUnavailable(ServiceUnavailable):
    code = "enclave_unavailable"
    status = 503
    title = "The enclave is unavailable"


class EnclaveBusy(EnclaveUnavailable):
    """The enclave refused the connection or request: too many connections or request bytes in flight."""

    code = "enclave_busy"
    title = "The enclave is busy"


class EnclaveRejected(NSLError):
    """The enclave answered with an error; ``enclave_code`` is its protocol code (docs/enclave.md §1).

    Protocol-level codes (``invalid_args``, ``unknown_op``, ``unseal_failed``, ...) mean that the host
    and the enclave disagree or that stored sealed data is damaged: an internal error for the caller.
    """

    code = "enclave_rejected"
    status = 500
    title = "The enclave rejected the request"

    def __init__(self, detail: str | None = None, *, enclave_code: str = "internal", **extra: Any) -> None:
        super().__init__(detail, enclave_code=enclave_code, **extra)
        self.enclave_code = enclave_code


class EnclaveKeyUnusable(EnclaveRejected):
    code = "key_unusable"
    status = 409
    title = "The key cannot be used for this operation"


class EnclaveCryptoFailed(EnclaveRejected):
    code = "crypto_failed"
    status = 422
    title = "The cryptographic operation failed on the given input"


class EnclavePreconditionFailed(EnclaveRejected):
    code = "precondition_failed"
    status = 409
    title = "The request was made for another state"


class TeeUnavailable(ConfigurationError):
    code = "tee_unavailable"
    title = "The requested TEE backend is not available on this machine"


class AttestationInvalid(NSLError):
    code = "attestation_invalid"
    status = 422
    title = "The attestation report does not verify"


class QuoteInvalid(AttestationInvalid):
    code = "quote_invalid"
    title = "The TEE quote is malformed"


class QuoteUntrusted(AttestationInvalid):
    code = "quote_untrusted"
    title = "The TEE quote does not verify against the trusted root and collateral"


class QuoteTcbNotSupported(QuoteUntrusted):
    """No TCB level of the (genuine) TCB info matches: no level has every SVN at or below the platform's.

    Intel's QVL calls this STATUS_TCB_NOT_SUPPORTED (``SGX_QL_TCB_NOT_SUPPORTED``: "Current TCB level
    cannot be found in platform/enclave TCB info"): an error, not a TCB status a caller can accept.
    """

    code = "quote_tcb_not_supported"
    title = "No TCB level of the collateral's TCB info matches the platform"


class SignatureInvalid(NSLError):
    code = "signature_invalid"
    status = 422
    title = "The enclave signature does not verify"


# --- Keys service (neo_service_layer.services.keys) ---


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


# --- Secrets service (neo_service_layer.services.secrets, docs/secrets.md) ---


class Gone(NSLError):
    code = "gone"
    status = 410
    title = "The resource existed but is gone"


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


class SecretSealingFailed(ValidationFailed):
    code = "secret_sealing_failed"
    title = "The secret value could not be sealed or opened"


# --- Randomness service (neo_service_layer.services.randomness, docs/randomness.md) ---


class RandomnessNotFound(NotFound):
    code = "randomness_not_found"
    title = "Randomness request not found"


class RandomnessUnknownScheme(ValidationFailed):
    code = "randomness_unknown_scheme"
    title = "Unknown VRF scheme"


class RandomnessWordsOutOfRange(ValidationFailed):
    code = "randomness_words_out_of_range"
    title = "words must be within 1..500"


class RandomnessBytesOutOfRange(ValidationFailed):
    code = "randomness_bytes_out_of_range"
    title = "bytes must be within 1..1024"


class RandomnessOutputConflict(ValidationFailed):
    code = "randomness_output_conflict"
    title = "Ask for words or for bytes, not both"


class RandomnessRangeWithBytes(ValidationFailed):
    code = "randomness_range_with_bytes"
    title = "min and max apply to words only"


class RandomnessRangeIncomplete(ValidationFailed):
    code = "randomness_range_incomplete"
    title = "min and max must be given together"


class RandomnessMinAboveMax(ValidationFailed):
    code = "randomness_min_above_max"
    title = "min must not be greater than max"


class RandomnessRangeOutOfBounds(ValidationFailed):
    code = "randomness_range_out_of_bounds"
    title = "min and max must be integers within int256 (-2^255 .. 2^255 - 1)"


class RandomnessSeedTooLong(ValidationFailed):
    code = "randomness_seed_too_long"
    title = "The seed is longer than 256 bytes"


class RandomnessSeedNotHex(ValidationFailed):
    code = "randomness_seed_not_hex"
    title = "The seed must be hex (an even number of digits, optional 0x)"


class RandomnessBatchSize(ValidationFailed):
    code = "randomness_batch_size"
    title = "A batch holds 1..100 requests"


class RandomnessKeySchemeMismatch(ValidationFailed):
    code = "randomness_key_scheme_mismatch"
    title = "The key's type does not prove this VRF scheme"


class RandomnessVerificationFailed(ValidationFailed):
    """A randomness result does not verify; ``reason`` (``extra``) is a stable reason code."""

    code = "randomness_verification_failed"
    title = "The randomness result does not verify"

    def __init__(self, detail: str, *, reason: str, **extra: Any) -> None:
        super().__init__(detail, reason=reason, **extra)
        self.reason = reason

"""Typed errors with stable string codes.

Every error the platform raises on purpose is an :class:`NSLError`. The ``code`` is part of the public
API (clients switch on it) and is never renamed; ``status`` is the HTTP status the API maps it to
(in one place: ``neo_service_layer.api.problems``). User errors are 4xx, internal errors 5xx.

This module holds the base classes, the platform's own errors and those raised below the services (by
the enclave, its client and the Python client), which every layer may import. Each service keeps its
errors in ``services/<name>/errors.py``. Codes are unique across the platform (``tests/test_errors.py``).
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


class Gone(NSLError):
    code = "gone"
    status = 410
    title = "The resource existed but is gone"


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


# --- Service errors raised below the services: by the code the enclave, the service and the Python client
# share (the randomness output spec, enclave/crypto/randomness.py) and by the Python client. ---


class RandomnessWordsOutOfRange(ValidationFailed):
    code = "randomness_words_out_of_range"
    title = "words must be within 1..500"


class RandomnessBytesOutOfRange(ValidationFailed):
    code = "randomness_bytes_out_of_range"
    title = "bytes must be within 1..1024"


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


class RandomnessVerificationFailed(ValidationFailed):
    """A randomness result does not verify; ``reason`` (``extra``) is a stable reason code."""

    code = "randomness_verification_failed"
    title = "The randomness result does not verify"

    def __init__(self, detail: str, *, reason: str, **extra: Any) -> None:
        super().__init__(detail, reason=reason, **extra)
        self.reason = reason


class OracleVerificationFailed(ValidationFailed):
    """An oracle record does not match what the enclave signed (``client.oracle``)."""

    code = "oracle_verification_failed"
    title = "The oracle answer does not verify"


class FunctionVerificationFailed(ValidationFailed):
    """A function run's signed result does not match the source or args it names (``client.functions``)."""

    code = "function_verification_failed"
    title = "The function result does not verify"


class SecretSealingFailed(ValidationFailed):
    code = "secret_sealing_failed"
    title = "The secret value could not be sealed or opened"


class PriceRoundVerificationFailed(ValidationFailed):
    """A price round does not match what the enclave signed (``client.pricefeed``)."""

    code = "price_round_verification_failed"
    title = "The price round does not verify"


class ApiRequestFailed(NSLError):
    """The API answered a Python client's request with an error: ``api_code`` and ``api_status`` are the
    problem's own (``feed_not_found``, 404), so a caller branches on them."""

    code = "api_request_failed"
    status = 502
    title = "The API refused the request"

    def __init__(self, detail: str, *, api_code: str, api_status: int, **extra: Any) -> None:
        super().__init__(detail, api_code=api_code, api_status=api_status, **extra)
        self.api_code = api_code
        self.api_status = api_status

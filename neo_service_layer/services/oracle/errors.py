"""Errors of the oracle service (docs/oracle.md). Codes are public API, never renamed.

These are refusals of a request before it is sent. What happens once it is sent — the server refused,
timed out, sent too much — is an *outcome* with an N3 code (``enclave/oracle/codes.py``), recorded and
returned as a result, never an HTTP error.
"""

from __future__ import annotations

from neo_service_layer.errors import NotFound, ValidationFailed


class OracleRequestNotFound(NotFound):
    code = "oracle_request_not_found"
    title = "Oracle request not found"


class OracleUrlInvalid(ValidationFailed):
    code = "oracle_url_invalid"
    title = "The URL is not an absolute URL with a host"


class OracleFilterInvalid(ValidationFailed):
    code = "oracle_filter_invalid"
    title = "The filter is not a valid JSONPath of the N3 oracle's dialect"


class OracleTooManySources(ValidationFailed):
    code = "oracle_too_many_sources"
    title = "A request has 1 to 7 sources"


class OracleHeaderNotAllowed(ValidationFailed):
    code = "oracle_header_not_allowed"
    title = "A header is not allowed, or a header or placeholder is malformed"


class OracleSecretNotGranted(ValidationFailed):
    code = "oracle_secret_not_granted"
    title = "A {{secrets.NAME}} placeholder names a secret not granted to oracle requests for the URL's host"


class OracleAggregateInvalid(ValidationFailed):
    code = "oracle_aggregate_invalid"
    title = "The aggregation does not fit the sources (quorum, spread, mode)"


class OracleLimitExceeded(ValidationFailed):
    code = "oracle_limit_exceeded"
    title = "A limit asked for is over the operator's maximum"


class OracleDocumentInvalid(ValidationFailed):
    code = "oracle_document_invalid"
    title = "Give the document as JSON text or as base64, exactly one of them"


class OracleExtractInvalid(ValidationFailed):
    code = "oracle_extract_invalid"
    title = "The typed extraction is not valid (type, decimals)"

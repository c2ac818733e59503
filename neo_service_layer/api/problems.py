"""RFC 9457 problem details: the one place where errors become HTTP responses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from neo_service_layer.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    MalformedBody,
    MethodNotAllowed,
    NotFound,
    NSLError,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationFailed,
)
from neo_service_layer.logging import get_logger

PROBLEM_JSON = "application/problem+json"
REQUEST_ID_HEADER = "X-Request-ID"
log = get_logger("nsl.api")

# Starlette/FastAPI raise HTTPException for routing (404, 405) and body reading: FastAPI's only 400 is
# "There was an error parsing the body" (e.g. a JSON body that is not UTF-8), hence MalformedBody.
_HTTP_STATUS_ERRORS: dict[int, type[NSLError]] = {
    400: MalformedBody,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationFailed,
    503: ServiceUnavailable,
}
# RFC 9110 section 11.6.1: a 401 response carries a challenge.
WWW_AUTHENTICATE = 'Bearer realm="nsl"'


def problem_body(error: NSLError, request_id: str | None, instance: str | None = None) -> dict[str, Any]:
    """The problem+json document for ``error`` (``type`` is a stable URN per code)."""
    body: dict[str, Any] = {
        "type": f"urn:nsl:error:{error.code}",
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "code": error.code,
    }
    if instance:
        body["instance"] = instance
    if request_id:
        body["request_id"] = request_id
    body.update({k: v for k, v in error.extra.items() if k not in body})
    return body


def problem_response(
    error: NSLError, request: Request | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The problem+json response for ``error``; ``headers`` (e.g. ``Allow`` of a 405) are kept."""
    request_id = getattr(request.state, "request_id", None) if request is not None else None
    instance = request.url.path if request is not None else None
    headers = dict(headers or {})
    if error.status == 401:
        headers.setdefault("WWW-Authenticate", WWW_AUTHENTICATE)
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(max(1, int(error.retry_after + 0.999)))
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    return JSONResponse(
        problem_body(error, request_id, instance),
        status_code=error.status,
        headers=headers,
        media_type=PROBLEM_JSON,
    )


def _validation_error(exc: RequestValidationError) -> NSLError:
    errors = list(exc.errors())
    if any(err.get("type") == "json_invalid" for err in errors):
        return MalformedBody("request body is not valid JSON")
    fields = [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": err.get("type"),
        }
        for err in errors
    ]
    return ValidationFailed("; ".join(f"{'.'.join(f['loc'])}: {f['msg']}" for f in fields), errors=fields)


def as_nsl_error(exc: Exception) -> NSLError:
    """The typed error an exception is reported as (anything unexpected is an internal error)."""
    if isinstance(exc, NSLError):
        return exc
    if isinstance(exc, RequestValidationError):
        return _validation_error(exc)
    if isinstance(exc, StarletteHTTPException):
        error_type = _HTTP_STATUS_ERRORS.get(exc.status_code)
        if error_type is None:
            # Keep the class of the status: a client error must not become a 500.
            error_type = BadRequest if exc.status_code < 500 else NSLError
        return error_type(str(exc.detail))
    return NSLError("an unexpected error occurred; see the server log")


def install_problem_handlers(app: FastAPI) -> None:
    """Map every exception the app can raise to problem+json; nothing leaks a stack trace."""

    async def on_nsl_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, NSLError)
        if exc.status >= 500:
            log.error("request_failed", code=exc.code, detail=exc.detail)
        return problem_response(exc, request)

    async def on_known_error(request: Request, exc: Exception) -> JSONResponse:
        headers = exc.headers if isinstance(exc, StarletteHTTPException) else None
        return problem_response(as_nsl_error(exc), request, headers)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Log the type only: an exception message may quote data we must not log.
        log.error("unhandled_exception", error_type=type(exc).__name__, path=request.url.path)
        return problem_response(as_nsl_error(exc), request)

    app.add_exception_handler(NSLError, on_nsl_error)
    app.add_exception_handler(RequestValidationError, on_known_error)
    app.add_exception_handler(StarletteHTTPException, on_known_error)
    app.add_exception_handler(Exception, on_unexpected)


def json_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()

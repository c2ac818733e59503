"""The enclave wire protocol, version 1 (docs/enclave.md §1): framing, envelopes and error codes.

A frame is a 4-byte unsigned big-endian length ``n`` (1 ≤ n ≤ 8 MiB) and ``n`` bytes of UTF-8 JSON.
Requests ``{"v", "id", "op", "args"}`` and responses ``{"v", "id", "ok", "result" | "error"}`` are
matched by ``id``; a connection may carry many requests at once.

Parsing is strict on purpose (the enclave is the trust boundary): duplicate object keys, ``NaN`` /
``Infinity`` and unknown envelope fields are refused, so that what a peer meant is never ambiguous.
"""

from __future__ import annotations

import asyncio
import enum
import json
import struct
from collections.abc import Mapping
from typing import Any, ClassVar, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from neo_service_layer.enclave.canonical import refuse_constants, refuse_duplicate_keys
from neo_service_layer.errors import NSLError

PROTOCOL_VERSION: Final = 1
MAX_FRAME_BYTES: Final = 8 * 1024 * 1024
# Request ids are JSON integers; 2^53 keeps them exact in every JSON implementation (RFC 7493 §2.2).
MAX_REQUEST_ID: Final = 2**53
OP_NAME_PATTERN: Final = r"^[a-z][a-z0-9_.]{0,63}$"
_HEADER = struct.Struct(">I")
HEADER_BYTES: Final = _HEADER.size


class ErrorCode(enum.StrEnum):
    """Stable protocol error codes: clients switch on them; never renamed."""

    BAD_FRAME = "bad_frame"  # framing or JSON broken: the connection is closed after the response
    INVALID_REQUEST = "invalid_request"  # a JSON object, but not a valid request envelope
    UNSUPPORTED_VERSION = "unsupported_version"
    UNKNOWN_OP = "unknown_op"
    INVALID_ARGS = "invalid_args"
    UNSEAL_FAILED = "unseal_failed"
    KEY_UNUSABLE = "key_unusable"
    CRYPTO_ERROR = "crypto_error"
    # Well-formed and authentic, but made for another state than the host presents (a sealed secret
    # write for another version): the caller's input is stale, the host is not broken.
    PRECONDITION_FAILED = "precondition_failed"
    # The op needs a capability (HTTP fetcher, sandbox) this enclave was started without.
    CAPABILITY_UNAVAILABLE = "capability_unavailable"
    SHUTTING_DOWN = "shutting_down"  # the enclave is stopping: retry on a restarted one
    BUSY = "busy"  # too many connections or request bytes in flight: id null, the connection is closed
    INTERNAL = "internal"


class EnclaveError(NSLError):
    """An error the enclave reports over the protocol; ``code`` is the protocol error code.

    They are :class:`NSLError` so that a start-up failure (an unseal error, say) prints as a clean
    ``[code] detail`` line from the CLI. Details must never contain key material or plaintext.
    """

    code: ClassVar[str] = ErrorCode.INTERNAL
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Enclave internal error"


class BadFrame(EnclaveError):
    code = ErrorCode.BAD_FRAME
    title = "Malformed frame"


class InvalidRequest(EnclaveError):
    code = ErrorCode.INVALID_REQUEST
    title = "Malformed request envelope"


class UnsupportedVersion(EnclaveError):
    code = ErrorCode.UNSUPPORTED_VERSION
    title = "Unsupported protocol version"


class UnknownOp(EnclaveError):
    code = ErrorCode.UNKNOWN_OP
    title = "Unknown operation"


class InvalidArgs(EnclaveError):
    code = ErrorCode.INVALID_ARGS
    title = "Invalid operation arguments"


class UnsealFailed(EnclaveError):
    code = ErrorCode.UNSEAL_FAILED
    title = "A sealed blob could not be opened"


class KeyUnusable(EnclaveError):
    code = ErrorCode.KEY_UNUSABLE
    title = "The key cannot be used for this operation"


class CryptoFailure(EnclaveError):
    code = ErrorCode.CRYPTO_ERROR
    title = "The cryptographic operation failed"


class PreconditionFailed(EnclaveError):
    code = ErrorCode.PRECONDITION_FAILED
    title = "The request was made for another state"


class CapabilityUnavailable(EnclaveError):
    code = ErrorCode.CAPABILITY_UNAVAILABLE
    title = "The enclave was started without a capability this operation needs"


class ShuttingDown(EnclaveError):
    code = ErrorCode.SHUTTING_DOWN
    title = "The enclave is shutting down"


class Busy(EnclaveError):
    code = ErrorCode.BUSY
    title = "The enclave is busy"


class InternalError(EnclaveError):
    code = ErrorCode.INTERNAL
    title = "Enclave internal error"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Request(_Strict):
    """``{"v": 1, "id": <uint ≤ 2^53>, "op": "<name>", "args": {…}}``."""

    v: Literal[1]
    id: int = Field(ge=0, le=MAX_REQUEST_ID)
    op: str = Field(pattern=OP_NAME_PATTERN)
    args: dict[str, Any]


class ErrorBody(_Strict):
    code: str = Field(min_length=1, max_length=64)
    detail: str = Field(max_length=4096)


class Response(_Strict):
    """``{"v": 1, "id", "ok": true, "result"}`` or ``{"v": 1, "id" | null, "ok": false, "error"}``."""

    v: Literal[1]
    id: int | None = Field(ge=0, le=MAX_REQUEST_ID)
    ok: bool
    result: dict[str, Any] | None = None
    error: ErrorBody | None = None

    @model_validator(mode="after")
    def _one_of_result_or_error(self) -> Response:
        if self.ok != (self.result is not None) or self.ok == (self.error is not None):
            raise ValueError("a response carries exactly one of result (ok) and error (not ok)")
        return self


# --- framing ---


# One encoder and one decoder for the process: ``json.dumps`` / ``json.loads`` with options other than
# the defaults build a new JSONEncoder / JSONDecoder on every call. Both are stateless between calls.
_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def encode_frame(message: Mapping[str, Any]) -> bytes:
    """``message`` as compact UTF-8 JSON behind its length; :class:`BadFrame` if it exceeds the limit."""
    payload = _ENCODER.encode(message).encode()
    if len(payload) > MAX_FRAME_BYTES:
        raise BadFrame(f"message of {len(payload)} bytes exceeds the {MAX_FRAME_BYTES}-byte frame limit")
    return _HEADER.pack(len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader, max_bytes: int = MAX_FRAME_BYTES) -> bytes | None:
    """The next frame's payload; ``None`` on a clean end of stream; :class:`BadFrame` otherwise.

    The length is checked before anything is buffered, so a hostile length prefix costs nothing.
    """
    length = await read_frame_length(reader, max_bytes)
    return None if length is None else await read_frame_payload(reader, length)


async def read_frame_length(reader: asyncio.StreamReader, max_bytes: int = MAX_FRAME_BYTES) -> int | None:
    """The next frame's length, from its header alone; ``None`` on a clean end of stream."""
    try:
        header = await reader.readexactly(HEADER_BYTES)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise BadFrame("stream ended inside a frame header") from exc
    (length,) = _HEADER.unpack(header)
    if not 1 <= length <= max_bytes:
        raise BadFrame(f"frame length {length} is outside 1..{max_bytes}")
    return int(length)


async def read_frame_payload(reader: asyncio.StreamReader, length: int) -> bytes:
    """The ``length`` bytes of a frame whose header :func:`read_frame_length` has read."""
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise BadFrame(f"stream ended {length - len(exc.partial)} bytes short of the frame end") from exc


_DECODER: Final = json.JSONDecoder(object_pairs_hook=refuse_duplicate_keys, parse_constant=refuse_constants)


def decode_message(payload: bytes) -> dict[str, Any]:
    """A frame's payload as a JSON object; :class:`BadFrame` for anything else."""
    try:
        text = payload.decode("utf-8")
        value = _DECODER.decode(text)
    except UnicodeDecodeError as exc:
        raise BadFrame("frame is not UTF-8") from exc
    except RecursionError as exc:
        raise BadFrame("JSON nested too deeply") from exc
    except ValueError as exc:  # json.JSONDecodeError, duplicate keys, NaN, over-long integers
        raise BadFrame(f"frame is not valid JSON: {str(exc)[:200]}") from exc
    if not isinstance(value, dict):
        raise BadFrame(f"frame is a JSON {type(value).__name__}, not an object")
    return value


def request_id_of(message: Mapping[str, Any]) -> int | None:
    """The message's ``id`` if it is a valid request id (so an error can still be matched), else None."""
    value = message.get("id")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_REQUEST_ID:
        return value
    return None


def parse_request(message: Mapping[str, Any]) -> Request:
    """Validate a request envelope: :class:`UnsupportedVersion` or :class:`InvalidRequest` if it is not."""
    version = message.get("v")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        raise UnsupportedVersion(f"protocol version {version!r} is not supported (this enclave speaks 1)")
    try:
        return Request.model_validate(message)
    except ValidationError as exc:
        raise InvalidRequest(describe_validation_error(exc)) from exc


def describe_validation_error(exc: ValidationError, *, limit: int = 5) -> str:
    """Where and why validation failed, without the offending values (they may be secrets)."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:limit]:
        location = ".".join(str(part) for part in error["loc"]) or "(root)"
        parts.append(f"{location}: {error['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def ok_response(request_id: int, result: Mapping[str, Any]) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "id": request_id, "ok": True, "result": dict(result)}


def error_response(request_id: int | None, error: EnclaveError) -> dict[str, Any]:
    return {
        "v": PROTOCOL_VERSION,
        "id": request_id,
        "ok": False,
        "error": {"code": str(error.code), "detail": error.detail[:4096]},
    }

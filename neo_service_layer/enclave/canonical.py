"""Canonical JSON, the request/result hashes that enclave signatures cover, and strict base64.

``canonical_json`` is RFC 8785 (JSON Canonicalization Scheme) restricted to the values the enclave
signs: objects, arrays, strings, integers, booleans and null. Floats are refused rather than
serialized (RFC 8785 §3.2.2.3 prints numbers as ECMAScript doubles, which Python cannot match byte for
byte without an extra dependency, and a signed result has no business carrying a float). Integers must
be exactly representable as IEEE 754 doubles (|n| ≤ 2^53 - 1, RFC 8785 §3.2.2.3 / I-JSON RFC 7493
§2.2) so that every other JCS implementation encodes them identically.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from json.encoder import encode_basestring
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalJSONError(ValueError):
    """The value cannot be canonicalized (a float, a non-string key, invalid Unicode, ...)."""


def canonical_json(value: object) -> bytes:
    """The RFC 8785 encoding of ``value`` as UTF-8 bytes; :class:`CanonicalJSONError` if it has none."""
    parts: list[str] = []
    try:
        _encode(value, parts)
    except RecursionError as exc:
        raise CanonicalJSONError("value is nested too deeply") from exc
    try:
        # Strict UTF-8: a lone surrogate (possible in a Python str, never in valid Unicode) fails here,
        # as RFC 8785 §3.2.2.2 requires the input strings to be valid Unicode.
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalJSONError("string is not valid Unicode (lone surrogate)") from exc


def _utf16_key(name: str) -> bytes:
    # RFC 8785 §3.2.3: members sorted by their names as arrays of UTF-16 code units. Big-endian
    # UTF-16 bytes compare exactly like their code units; surrogatepass so the sort never raises
    # (a lone surrogate is rejected by the final UTF-8 encoding instead).
    return name.encode("utf-16-be", "surrogatepass")


def _encode(value: object, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalJSONError(f"integer {value} is outside ±(2^53 - 1)")
        out.append(str(int(value)))
    elif isinstance(value, str):
        # json's encoder without ensure_ascii (what json.dumps(value, ensure_ascii=False) calls, minus
        # building a JSONEncoder per string) matches RFC 8785 §3.2.2.2: only '"', '\\' and control
        # characters are escaped, with the short forms \b \t \n \f \r and lowercase \u00xx for the rest.
        out.append(encode_basestring(value))
    elif isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise CanonicalJSONError("object keys must be strings")
        out.append("{")
        for index, key in enumerate(sorted(value, key=_utf16_key)):
            if index:
                out.append(",")
            out.append(encode_basestring(key))
            out.append(":")
            _encode(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, float):
        raise CanonicalJSONError("floats are not allowed in signed data")
    else:
        raise CanonicalJSONError(f"{type(value).__name__} is not a JSON value")


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def request_hash(op: str, account_id: str, params: Mapping[str, Any]) -> bytes:
    """SHA-256 of the canonical request ``{"op", "account_id", "params"}`` (docs/enclave.md §3)."""
    return sha256(canonical_json({"op": op, "account_id": account_id, "params": params}))


def result_hash(result: Mapping[str, Any]) -> bytes:
    """SHA-256 of the canonical result object (docs/enclave.md §3)."""
    return sha256(canonical_json(result))


def b64encode(data: bytes) -> str:
    """Standard base64 with padding (RFC 4648 §4), the protocol's encoding of binary values."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict inverse of :func:`b64encode`: ``ValueError`` on anything but its exact output.

    Non-alphabet characters, missing padding and non-zero padding bits are all refused, so that one
    byte string has exactly one accepted encoding (RFC 4648 §3.5 allows decoders to be this strict).
    """
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError("not valid base64") from exc
    if b64encode(data) != text:
        raise ValueError("not canonical base64 (padding bits or length)")
    return data


def _decode_b64_field(value: object) -> object:
    return b64decode(value) if isinstance(value, str) else value


# ``bytes`` in a schema that travels as a base64 string; dumps to the string in every mode, so that
# ``model_dump()`` is JSON-ready and canonicalizable.
B64Bytes = Annotated[bytes, BeforeValidator(_decode_b64_field), PlainSerializer(b64encode, return_type=str)]


def refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for :func:`json.loads`: a key given twice is a ValueError (RFC 8259 leaves
    duplicates to the parser; a signature over the first or the last would be ambiguous)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def refuse_constants(name: str) -> Any:
    """``parse_constant`` for :func:`json.loads`: ``NaN`` and ``Infinity`` are not JSON (RFC 8259)."""
    raise ValueError(f"{name} is not JSON")

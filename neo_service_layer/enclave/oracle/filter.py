"""The oracle's response filter: neo-go's ``pkg/services/oracle/filter.go``, byte for byte.

``filterRequest`` returns the fetched body unchanged when the request has no filter (``Filter`` is nil:
the contract passed null). Any filter, the empty string included, makes ``filter`` run: the body must
be UTF-8, its first JSON value is decoded (go-ordered-json, see :mod:`.ordered_json`), the path
selects values from it (:mod:`.jsonpath`), and the result is the JSON array of those values. The
empty filter thus wraps the whole document in an array, and a path that matches nothing gives
``[]``. A failure is ``OracleResponseCode.Error`` with no result (``request.go`` sets
``transaction.Error`` when ``filterRequest`` fails).

neo-go does not check the size of the filtered result against ``MaxOracleResultSize`` (0xFFFF); the
caller decides what an oversized one becomes. The native Oracle contract limits a filter to
:data:`MAX_FILTER_BYTES` UTF-8 bytes (``pkg/core/native/oracle.go`` ``maxFilterLength``); that check
belongs to whoever accepts the request, not to this function.
"""

from __future__ import annotations

from typing import Final

from neo_service_layer.enclave.oracle.codes import OracleCode, OracleFailure
from neo_service_layer.enclave.oracle.jsonpath import (
    MAX_DEPTH,
    MAX_OBJECTS,
    JsonPath,
    JsonPathError,
    parse_path,
)
from neo_service_layer.enclave.oracle.ordered_json import JsonDecodeError, decode_first, encode

__all__ = ["MAX_DEPTH", "MAX_FILTER_BYTES", "MAX_OBJECTS", "FilterError", "apply_filter"]

MAX_FILTER_BYTES: Final = 128
"""The native Oracle contract's ``maxFilterLength``: a longer filter never reaches an oracle."""


class FilterError(OracleFailure):
    """Filtering failed: the response is ``OracleCode.Error``. ``detail`` never quotes the document."""

    def __init__(self, detail: str) -> None:
        super().__init__(OracleCode.Error, detail)


def apply_filter(document: bytes, path: str | JsonPath | None) -> bytes:
    """The result the N3 oracle puts in its response for ``document`` fetched with filter ``path``.

    ``None`` (no filter) returns ``document`` as it is. A path may be given parsed
    (:func:`~.jsonpath.parse_path`) to parse it once. Raises :class:`FilterError` where neo-go's
    ``filter`` returns an error, with its reason: not UTF-8, invalid JSON, invalid filter.
    """
    if path is None:
        return document
    try:
        text = document.decode("utf-8")  # strict, like utf8.Valid: no surrogates, no overlongs
    except UnicodeDecodeError as e:
        raise FilterError("not UTF-8") from e
    try:
        value = decode_first(text)
    except JsonDecodeError as e:
        raise FilterError(f"invalid JSON: {e}") from e
    try:
        compiled = parse_path(path) if isinstance(path, str) else path
        selected = compiled.select(value)
    except JsonPathError as e:
        raise FilterError(f"invalid filter: {e}") from e
    return encode(selected)

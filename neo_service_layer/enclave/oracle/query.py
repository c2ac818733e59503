"""Which filter syntax a request uses: the N3 oracle's dialect (default) or RFC 9535 JSONPath.

``n3`` is ``filter.py``: byte-exact with Neo N3's oracle, what a contract on N3 expects. ``rfc9535`` is
the IETF standard (filter expressions ``[?@.price > 1]``, functions ``length()``/``match()``...), through
the maintained ``jsonpath-rfc9535`` library, for dApps and EVM consumers that do not need N3's bytes. Its
output has the same shape — a JSON array of the selected values, compact — so aggregation and typed
extraction (``extract.py``) work on either. The document is parsed strictly (RFC 8259: UTF-8, no NaN or
Infinity, no duplicate keys), as the N3 filter refuses those too. No filter: the body as it came.
"""

from __future__ import annotations

import json
from enum import StrEnum

import jsonpath_rfc9535
from jsonpath_rfc9535.exceptions import JSONPathError

from neo_service_layer.enclave.canonical import refuse_constants, refuse_duplicate_keys
from neo_service_layer.enclave.oracle.filter import FilterError, apply_filter
from neo_service_layer.enclave.oracle.jsonpath import JsonPathError, parse_path


class FilterSyntax(StrEnum):
    N3 = "n3"
    RFC9535 = "rfc9535"


class QueryInvalid(ValueError):
    """The filter does not parse in its syntax (the message says where)."""


def check_query(syntax: FilterSyntax, path: str | None) -> None:
    """QueryInvalid unless ``path`` parses in ``syntax`` (None always does)."""
    if path is None:
        return
    try:
        if syntax is FilterSyntax.N3:
            parse_path(path)
        else:
            jsonpath_rfc9535.compile(path)
    except JsonPathError as exc:
        raise QueryInvalid(str(exc)) from exc
    except JSONPathError as exc:
        raise QueryInvalid(_first_line(exc)) from exc


def select(document: bytes, syntax: FilterSyntax, path: str | None) -> bytes:
    """The filter's output for ``document``: N3's bytes, or a compact JSON array of the RFC 9535 nodes.

    FilterError (code ``Error``) for a document or filter that fails.
    """
    if syntax is FilterSyntax.N3 or path is None:
        return apply_filter(document, path)
    try:
        text = document.decode("utf-8")
        data = json.loads(text, object_pairs_hook=refuse_duplicate_keys, parse_constant=refuse_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FilterError("invalid JSON") from exc
    try:
        values = jsonpath_rfc9535.compile(path).find(data).values()
    except JSONPathError as exc:
        raise FilterError(f"invalid filter: {_first_line(exc)}") from exc
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()


def _first_line(exc: JSONPathError) -> str:
    """The library's message, first line. Its detailed message fails on an empty query (IndexError in
    ``_error_context``, jsonpath-rfc9535 2.0.2): then the bare message."""
    try:
        return str(exc).splitlines()[0]
    except IndexError:
        return str(exc.args[0]) if exc.args else "invalid query"

"""Oracle requests made through the NSL gateways: the payload formats in, the callback formats out.

A contract asks the gateway for the ``oracle`` service with a payload naming one URL and a filter
(docs/oracle.md §8, docs/chains-evm.md, docs/chains-neo-n3.md):

- EVM: ``abi.encode(string url, string filter)``, canonical (what Solidity's ``abi.encode`` writes:
  nothing after the two strings, zero padding); ``""`` is no filter. Or ``abi.encode(string url,
  string filter, string extract)`` for a typed value (``extract.py``): ``"uint256:8"``, ``"int256"``,
  ``"bool"``, ``"string"`` (``type[:decimals]``); the callback's ``data`` is then the value
  ABI-encoded (``abi.decode(data, (uint256))``), not JSON text;
- Neo N3: ``StdLib.jsonSerialize([url, filter])``, a UTF-8 JSON array of exactly two items, the filter
  a string or ``null`` (``null`` and ``""`` are no filter).

The consumer's callback gets the N3 ``OracleResponseCode`` byte and the filter's output:

- EVM: ``abi.encode(uint8 code, bytes data)``;
- Neo N3: ``bytes([code]) + data``.

``data`` is empty unless the code is ``Success``, and at most :data:`MAX_ONCHAIN_DATA_BYTES`: the
callback's gas must stay bounded whatever a server sends, so a larger filtered output is delivered as
``ResponseTooLarge`` with empty data. A payload that does not decode is answered with ``Error`` (and
still delivered, so the consumer is not left waiting): :class:`PayloadError` says why.

Pure functions: the enclave's op (``handlers/oracle_chains.py``) and the tests use them alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError

from neo_service_layer.enclave.oracle.codes import OracleCode
from neo_service_layer.enclave.oracle.extract import ExtractSpec, ValueType

#: The largest filter output delivered to a callback; larger is ``ResponseTooLarge`` with no data.
MAX_ONCHAIN_DATA_BYTES: Final = 1024
#: The platform account on-chain queries run under: they have no NSL account and no secrets.
CHAIN_ACCOUNT_ID: Final = "nsl-chain"
# Bounds of a request's parts, as the API's (opdefs/oracle.py MAX_URL_CHARS, MAX_FILTER_CHARS).
MAX_URL_CHARS: Final = 2048
MAX_FILTER_CHARS: Final = 1024
_EVM_PAYLOAD_TYPES: Final = ("string", "string")
_EVM_TYPED_PAYLOAD_TYPES: Final = ("string", "string", "string")
_EVM_RESULT_TYPES: Final = ("uint8", "bytes")


class PayloadError(ValueError):
    """A gateway payload that is not an oracle request; the answer to it is ``Error``."""


@dataclass(frozen=True, slots=True)
class ChainQuery:
    """What an on-chain oracle request asks: one URL, fetched with GET, and a filter (None: the body)."""

    url: str
    filter: str | None
    extract: ExtractSpec | None = None


def _query(url: object, filter_: object) -> ChainQuery:
    if not isinstance(url, str) or not url:
        raise PayloadError("the URL is not a non-empty string")
    if len(url) > MAX_URL_CHARS:
        raise PayloadError(f"the URL is over {MAX_URL_CHARS} characters")
    if filter_ is not None and not isinstance(filter_, str):
        raise PayloadError("the filter is neither a string nor null")
    if filter_ is not None and len(filter_) > MAX_FILTER_CHARS:
        raise PayloadError(f"the filter is over {MAX_FILTER_CHARS} characters")
    return ChainQuery(url, filter_ or None)


def _canonical_strings(types: tuple[str, ...], payload: bytes) -> tuple[str, ...] | None:
    """The strings of ``payload`` if it is exactly ``abi.encode`` of ``types``, else None."""
    try:
        values = tuple(abi_decode(types, payload))
    except (DecodingError, UnicodeDecodeError, OverflowError):
        return None
    # eth_abi ignores bytes after the last string: one request, one encoding.
    return values if abi_encode(types, values) == payload else None


def parse_extract(text: str) -> ExtractSpec | None:
    """``"uint256:8"`` → ExtractSpec(UINT256, 8); ``""`` → None; PayloadError for anything else."""
    if not text:
        return None
    kind, _, decimals = text.partition(":")
    try:
        return ExtractSpec(ValueType(kind), int(decimals) if decimals else 0)
    except ValueError as e:
        raise PayloadError(
            f"extract {text[:40]!r} is not type[:decimals] (uint256:8, int256, bool, string)"
        ) from e


def decode_evm_payload(payload: bytes) -> ChainQuery:
    """The query of an EVM payload ``abi.encode(string url, string filter[, string extract])``;
    :class:`PayloadError` unless it is exactly one of those encodings (re-encoded, the same bytes)."""
    plain = _canonical_strings(_EVM_PAYLOAD_TYPES, payload)
    if plain is not None:
        return _query(plain[0], plain[1])
    typed = _canonical_strings(_EVM_TYPED_PAYLOAD_TYPES, payload)
    if typed is None:
        raise PayloadError(
            "not the canonical abi.encode(string, string) or abi.encode(string, string, string)"
        )
    query = _query(typed[0], typed[1])
    return ChainQuery(query.url, query.filter, parse_extract(typed[2]))


def _no_constants(name: str) -> object:
    raise PayloadError(f"{name} is not JSON")


def decode_n3_payload(payload: bytes) -> ChainQuery:
    """The query of a Neo N3 payload ``StdLib.jsonSerialize([url, filter])``; :class:`PayloadError`
    unless it is UTF-8 JSON holding an array of a string and a string or null."""
    try:
        value = json.loads(payload.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise PayloadError(f"not UTF-8 JSON: {e}") from e
    if not isinstance(value, list) or len(value) != 2:
        raise PayloadError("not a JSON array of two items [url, filter]")
    return _query(value[0], value[1])


def onchain_outcome(code: OracleCode, data: bytes) -> tuple[OracleCode, bytes]:
    """The (code, data) a callback gets for an answer: data only with ``Success``, and at most
    :data:`MAX_ONCHAIN_DATA_BYTES` of it (more is ``ResponseTooLarge``, no data)."""
    if code is not OracleCode.Success:
        return code, b""
    if len(data) > MAX_ONCHAIN_DATA_BYTES:
        return OracleCode.ResponseTooLarge, b""
    return code, data


def evm_result(code: OracleCode, data: bytes) -> bytes:
    """``abi.encode(uint8 code, bytes data)``: what an EVM consumer's callback decodes."""
    return abi_encode(_EVM_RESULT_TYPES, (int(code), data))


def n3_result(code: OracleCode, data: bytes) -> bytes:
    """``code (1 byte) ‖ data``: what a Neo N3 consumer's callback splits at ``result[0]``."""
    return bytes([int(code)]) + data


def split_evm_result(result: bytes) -> tuple[OracleCode, bytes]:
    """The inverse of :func:`evm_result` (for readers of a ``Fulfilled`` event and tests)."""
    code, data = abi_decode(_EVM_RESULT_TYPES, result)
    return OracleCode(code), bytes(data)


def split_n3_result(result: bytes) -> tuple[OracleCode, bytes]:
    """The inverse of :func:`n3_result`."""
    if not result:
        raise ValueError("an N3 oracle result has at least its code byte")
    return OracleCode(result[0]), result[1:]

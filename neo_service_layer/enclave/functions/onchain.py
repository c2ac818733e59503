"""Function calls made through the NSL gateways: the payload formats in, the callback formats out.

A contract asks the gateway for the ``functions`` service with a payload naming one function, the
hash of the code it expects to run and the args (docs/functions.md "Calls from contracts",
docs/chains-evm.md, docs/chains-neo-n3.md):

- EVM: ``abi.encode(string functionId, bytes32 sourceHash, string args)``, canonical (what Solidity's
  ``abi.encode`` writes: nothing after the last string, zero padding);
- Neo N3: ``StdLib.jsonSerialize([functionId, sourceHash, args])``, a UTF-8 JSON array of exactly
  three strings, ``sourceHash`` 64 lower-case hex characters or ``""``.

``sourceHash`` is SHA-256 of the source's UTF-8 bytes; zero (EVM) or empty (N3) lets the host pick
the function's current version. ``args`` is JSON text handed to the function as ``args`` (``""`` is
``null``); args that are not JSON, or have no canonical form (floats, integers beyond ±(2^53 - 1),
duplicate keys, lone surrogates), do not make the payload undecodable: they are answered
``ArgsInvalid`` after the function and consumer checks (:attr:`FunctionCall.args_error`).

The consumer's callback gets a :class:`FunctionCode`, the hash of the code that ran and the data:

- EVM: ``abi.encode(uint8 code, bytes32 sourceHash, bytes data)``;
- Neo N3: ``code (1 byte) ‖ sourceHash (32 bytes) ‖ data``.

``data`` is the returned value's JSON text on ``Success`` (at most :data:`MAX_ONCHAIN_DATA_BYTES`, the
oracle's cap: more is ``ResultTooLarge`` with no data), else a short ``"<code>: <reason>"`` text of at
most :data:`MAX_ERROR_DATA_BYTES`: the JavaScript error's ``"<name>: <message>"`` when a run failed,
else ``"<code>: <reason>"`` (the callback's gas must stay bounded whatever a function does).

Pure functions: the enclave's ops (``handlers/functions_chains.py``), the host (which resolves the
function a payload names) and the tests use them alike.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass
from typing import Any, Final

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError

from neo_service_layer.enclave.canonical import CanonicalJSONError, canonical_json
from neo_service_layer.enclave.opdefs.chains import N3_MAX_PAYLOAD_SIZE
from neo_service_layer.enclave.oracle.onchain import MAX_ONCHAIN_DATA_BYTES
from neo_service_layer.ids import ID_MAX_LENGTH, ID_PATTERN

#: The largest payload decoded (NeoVM's largest item, as the oracle ops' bound).
MAX_PAYLOAD_BYTES: Final = N3_MAX_PAYLOAD_SIZE
#: The largest args text a call may carry (UTF-8 bytes); more is ``ArgsInvalid``.
MAX_ARGS_BYTES: Final = 64 * 1024
#: The largest error text a callback gets (cut on a character boundary).
MAX_ERROR_DATA_BYTES: Final = 256
SHA256_SIZE: Final = 32
_NO_SOURCE_HASH: Final = bytes(SHA256_SIZE)
_FUNCTION_PREFIX: Final = "fn_"
_FUNCTION_ID: Final = re.compile(ID_PATTERN)
_HEX_SHA256: Final = re.compile(r"^[0-9a-f]{64}$")
_EVM_PAYLOAD_TYPES: Final = ("string", "bytes32", "string")
_EVM_RESULT_TYPES: Final = ("uint8", "bytes32", "bytes")
_UINT32_MAX: Final = 0xFFFFFFFF
_CHAIN_ID_MAX: Final = 2**53 - 1  # opdefs/chains.py ChainId
_ADDRESS: Final = re.compile(r"^(0x)?([0-9a-fA-F]{40})$")


class FunctionCode(enum.IntEnum):
    """What a contract's callback gets as ``code``: fixed numbers, never renumbered (STYLE.md 5).

    0-5 are how a run ended (``RunStatus`` 1:1); 6 a run that succeeded with a result over the
    on-chain cap; 7-11 requests that ran nothing."""

    Success = 0
    Failed = 1
    TimedOut = 2
    MemoryExceeded = 3
    OutputTooLarge = 4
    Crashed = 5
    ResultTooLarge = 6
    FunctionNotFound = 7
    ConsumerNotAllowed = 8
    SourceMismatch = 9
    ArgsInvalid = 10
    PayloadInvalid = 11


class PayloadError(ValueError):
    """A gateway payload that is not a function call; the answer to it is ``PayloadInvalid``."""


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """What a gateway payload asks: run ``function_id`` (only with source hash ``source_sha256`` when
    given; None = the host's current version) on ``args``.

    ``args`` is the parsed JSON of ``args_text`` (None for ``""``); when the text is not JSON or has no
    canonical form, ``args`` is None and ``args_error`` says why (answered ``ArgsInvalid``)."""

    function_id: str
    source_sha256: bytes | None
    args: Any
    args_text: str
    args_error: str | None = None


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # One text, one meaning: JSON.parse keeps the last of a duplicate key, other readers the first.
    value = dict(pairs)
    if len(value) != len(pairs):
        raise CanonicalJSONError("an object has a duplicate key")
    return value


def _no_constants(name: str) -> Any:
    raise CanonicalJSONError(f"{name} is not JSON")


def parse_args(text: str) -> tuple[Any, str | None]:
    """``(value, None)`` for args text with a canonical JSON form (``""`` is None), else
    ``(None, why)``: not JSON, over :data:`MAX_ARGS_BYTES`, or no RFC 8785 form (``canonical.py``)."""
    if not text:
        return None, None
    if len(text.encode("utf-8", "surrogatepass")) > MAX_ARGS_BYTES:
        return None, f"args are over {MAX_ARGS_BYTES} bytes"
    try:
        value = json.loads(text, parse_constant=_no_constants, object_pairs_hook=_refuse_duplicates)
        canonical_json(value)
    except CanonicalJSONError as e:
        return None, f"args have no canonical JSON form: {e}"
    except (ValueError, RecursionError) as e:  # JSONDecodeError, an integer of over 4,300 digits
        return None, f"args are not JSON: {str(e)[:80]}"
    return value, None


def _call(function_id: object, source_sha256: bytes | None, args_text: object) -> FunctionCall:
    if not isinstance(function_id, str) or not isinstance(args_text, str):
        raise PayloadError("the function id and args are not strings")
    if (
        len(function_id) > ID_MAX_LENGTH
        or not function_id.startswith(_FUNCTION_PREFIX)
        or not _FUNCTION_ID.fullmatch(function_id)
    ):
        raise PayloadError(f"{function_id[:60]!r} is not a function id (fn_...)")
    args, error = parse_args(args_text)
    return FunctionCall(function_id, source_sha256, args, args_text, error)


def _bounded(payload: bytes) -> None:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"the payload is over {MAX_PAYLOAD_BYTES} bytes")


def decode_evm_payload(payload: bytes) -> FunctionCall:
    """The call of an EVM payload ``abi.encode(string functionId, bytes32 sourceHash, string args)``;
    :class:`PayloadError` unless it is exactly that encoding (re-encoded, the same bytes)."""
    _bounded(payload)
    try:
        values = tuple(abi_decode(_EVM_PAYLOAD_TYPES, payload))
    except (DecodingError, UnicodeDecodeError, OverflowError) as e:
        raise PayloadError("not abi.encode(string, bytes32, string)") from e
    # eth_abi ignores bytes after the last string: one request, one encoding.
    if abi_encode(_EVM_PAYLOAD_TYPES, values) != payload:
        raise PayloadError("not the canonical abi.encode(string, bytes32, string)")
    function_id, source_hash, args_text = values
    return _call(function_id, None if source_hash == _NO_SOURCE_HASH else bytes(source_hash), args_text)


def decode_n3_payload(payload: bytes) -> FunctionCall:
    """The call of a Neo N3 payload ``StdLib.jsonSerialize([functionId, sourceHash, args])``;
    :class:`PayloadError` unless it is UTF-8 JSON holding an array of three strings, the hash 64
    lower-case hex characters or empty."""
    _bounded(payload)
    try:
        value = json.loads(payload.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise PayloadError(f"not UTF-8 JSON: {str(e)[:80]}") from e
    if not isinstance(value, list) or len(value) != 3 or not all(isinstance(v, str) for v in value):
        raise PayloadError("not a JSON array of three strings [functionId, sourceHash, args]")
    function_id, source_hash, args_text = value
    if source_hash and not _HEX_SHA256.fullmatch(source_hash):
        raise PayloadError("the source hash is neither empty nor 64 lower-case hex characters")
    return _call(function_id, bytes.fromhex(source_hash) if source_hash else None, args_text)


def _source_hash(source_sha256: bytes | None) -> bytes:
    if source_sha256 is None:
        return _NO_SOURCE_HASH
    if len(source_sha256) != SHA256_SIZE:
        raise ValueError(f"a source hash is {SHA256_SIZE} bytes, not {len(source_sha256)}")
    return source_sha256


def encode_evm_payload(function_id: str, source_sha256: bytes | None, args_text: str) -> bytes:
    """What an EVM consumer passes: ``abi.encode(functionId, sourceHash, args)`` (None: zero hash)."""
    return abi_encode(_EVM_PAYLOAD_TYPES, (function_id, _source_hash(source_sha256), args_text))


def encode_n3_payload(function_id: str, source_sha256: bytes | None, args_text: str) -> bytes:
    """What a Neo N3 consumer passes: ``jsonSerialize([functionId, sourceHash hex or "", args])``
    (compact, ASCII-escaped; the decoder takes any JSON text of that array)."""
    source_hash = "" if source_sha256 is None else _source_hash(source_sha256).hex()
    return json.dumps([function_id, source_hash, args_text], separators=(",", ":")).encode()


def error_data(name: str, message: str) -> bytes:
    """``"<name>: <message>"`` in UTF-8 (a JavaScript error's name and message, or a code's name and
    reason), cut to :data:`MAX_ERROR_DATA_BYTES` on a character boundary (never half a character for
    the callback to choke on)."""
    text = f"{name}: {message}".encode("utf-8", "replace")
    return text[:MAX_ERROR_DATA_BYTES].decode("utf-8", "ignore").encode()


def success_data(result: str) -> tuple[FunctionCode, bytes]:
    """(code, data) of a run that succeeded with JSON text ``result``: ``Success`` with its UTF-8 bytes,
    or ``ResultTooLarge`` with none when they are over :data:`MAX_ONCHAIN_DATA_BYTES`."""
    data = result.encode("utf-8")
    if len(data) > MAX_ONCHAIN_DATA_BYTES:
        return FunctionCode.ResultTooLarge, b""
    return FunctionCode.Success, data


def evm_result(code: FunctionCode, source_sha256: bytes | None, data: bytes) -> bytes:
    """``abi.encode(uint8 code, bytes32 sourceHash, bytes data)``: what an EVM callback decodes."""
    return abi_encode(_EVM_RESULT_TYPES, (int(code), _source_hash(source_sha256), data))


def n3_result(code: FunctionCode, source_sha256: bytes | None, data: bytes) -> bytes:
    """``code (1 byte) ‖ sourceHash (32 bytes) ‖ data``: what a Neo N3 callback slices."""
    return bytes([int(code)]) + _source_hash(source_sha256) + data


def decode_evm_result(result: bytes) -> tuple[FunctionCode, bytes, bytes]:
    """The inverse of :func:`evm_result` (for readers of a ``Fulfilled`` event, clients and tests)."""
    code, source_hash, data = abi_decode(_EVM_RESULT_TYPES, result)
    return FunctionCode(code), bytes(source_hash), bytes(data)


def decode_n3_result(result: bytes) -> tuple[FunctionCode, bytes, bytes]:
    """The inverse of :func:`n3_result`."""
    if len(result) < 1 + SHA256_SIZE:
        raise ValueError("an N3 function result has its code byte and a 32-byte source hash")
    return FunctionCode(result[0]), result[1 : 1 + SHA256_SIZE], result[1 + SHA256_SIZE :]


def consumer_key(chain: str, contract: str) -> str:
    """The key of a consumer contract in a function's allow-list: ``evm:<chain id>:<0x lower-case
    address>`` or ``n3:<magic>:<0x lower-case big-endian script hash>``; ``chain`` is ``evm:<chain id>``
    or ``n3:<magic>`` (as ``chains/fulfilments.py`` names chains). ValueError for anything else."""
    kind, _, number = chain.partition(":")
    if kind not in ("evm", "n3") or not number.isascii() or not number.isdigit():
        raise ValueError(f"chain {chain[:40]!r} is not evm:<chain id> or n3:<magic>")
    value = int(number)
    low, high = (1, _CHAIN_ID_MAX) if kind == "evm" else (0, _UINT32_MAX)
    if not low <= value <= high or number != str(value):
        raise ValueError(f"chain {chain[:40]!r}: {number} is out of range or not canonical")
    match = _ADDRESS.fullmatch(contract)
    if match is None:
        raise ValueError(f"contract {contract[:60]!r} is not 40 hex characters (0x optional)")
    return f"{kind}:{value}:0x{match.group(2).lower()}"

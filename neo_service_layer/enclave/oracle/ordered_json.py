"""JSON as the Neo N3 oracle reads and writes it: nspcc-dev/go-ordered-json, the fork neo-go uses.

neo-go's oracle filter (``pkg/services/oracle/filter.go``) decodes a response with that library's
``Decoder`` (``UseOrderedObject``, no ``UseNumber``) and re-encodes the selection with its ``Marshal``
(go-ordered-json ``ff7471f924b3``, the version neo-go's ``go.mod`` pins). What that means, and what
this module reproduces:

- Decoding (``decode.go``, ``scanner.go``, ``stream.go``) reads the *first* value: leading
  `` \\t\\r\\n`` is skipped, anything after the value is ignored (``{}x`` is ``{}``, ``01`` is ``0``)
  except a number whose fraction or exponent is cut short (``1.``, ``1e``, ``1.5e``), which is a
  syntax error. No nesting limit. A byte-order mark is an error, as are ``NaN`` and ``Infinity``.
- Objects keep their members in document order, duplicates included.
- Every number becomes a float64: ``1.0`` and ``1e0`` are ``1``, ``12345678901234567890`` is
  ``12345678901234567000``, and a number beyond float64 (``1e400``) is an error.
- ``\\u`` escapes: a surrogate pair is one character; a lone surrogate is U+FFFD (``unquoteBytes``).
- Encoding is compact and ASCII only, unlike ``encoding/json``: every non-ASCII character is
  ``\\uXXXX`` (uppercase hex, a surrogate pair above U+FFFF), and so are ``"`` ``&`` ``'`` ``+``
  ``<`` ``>`` `````` `` and DEL; ``\\\\ \\b \\f \\n \\r \\t`` have their short forms, other control
  characters ``\\u00XX`` (``encode.go`` ``encodeState.string``, ``tables.go`` ``htmlSafeSet``).
  Floats are written as ES6 does: shortest digits, exponent form below 1e-6 and from 1e21 on.

Decoding uses Python's C decoder where it reads the same (see ``_C_DECODER``) and an iterative
parser for the rest; encoding is iterative too, so a deeply nested document cannot exhaust the stack.
"""

from __future__ import annotations

import json
import math
import re
from typing import Final

__all__ = ["JsonDecodeError", "JsonObject", "JsonValue", "decode_first", "decode_string", "encode"]


class JsonObject:
    """A JSON object as go-ordered-json's ``OrderedObject``: its members in document order."""

    __slots__ = ("members",)

    def __init__(self, members: list[tuple[str, JsonValue]]) -> None:
        self.members = members

    def __repr__(self) -> str:
        return f"JsonObject({self.members!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonObject) and self.members == other.members

    __hash__ = None  # type: ignore[assignment]  # mutable, like the list it wraps


type JsonValue = bool | float | str | list[JsonValue] | JsonObject | None


class JsonDecodeError(ValueError):
    """The bytes are not a JSON value the way go-ordered-json's decoder reads one."""


_WS: Final = re.compile(r"[ \t\r\n]*")
# scanner.go's number states; groups: fraction, exponent.
_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_PLAIN_STRING: Final = re.compile(r'([^"\\\x00-\x1f]*)"')
_STRING_CHUNK: Final = re.compile(r'([^"\\\x00-\x1f]*)(["\\\x00-\x1f])')
_HEX4: Final = re.compile(r"[0-9a-fA-F]{4}")
_SIMPLE_ESCAPES: Final = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_LITERALS: Final[tuple[tuple[str, JsonValue], ...]] = (("true", True), ("false", False), ("null", None))


def _scan_string(text: str, pos: int) -> tuple[str, int]:
    """The string whose opening quote is just before ``pos``, and the index after its closing quote."""
    plain = _PLAIN_STRING.match(text, pos)
    if plain is not None:
        return plain.group(1), plain.end()
    chunks: list[str] = []
    while True:
        m = _STRING_CHUNK.match(text, pos)
        if m is None:
            raise JsonDecodeError("unterminated string")
        chunks.append(m.group(1))
        pos = m.end()
        terminator = m.group(2)
        if terminator == '"':
            return "".join(chunks), pos
        if terminator != "\\":
            raise JsonDecodeError("control character in string")
        escape = text[pos : pos + 1]
        simple = _SIMPLE_ESCAPES.get(escape)
        if simple is not None:
            chunks.append(simple)
            pos += 1
            continue
        if escape != "u" or _HEX4.match(text, pos + 1) is None:
            raise JsonDecodeError("invalid escape in string")
        code = int(text[pos + 1 : pos + 5], 16)
        pos += 5
        if 0xD800 <= code <= 0xDFFF:
            # unquoteBytes: a high surrogate followed by a \u low surrogate is one character;
            # any other surrogate is U+FFFD and the escape after it is read on its own.
            low = (
                int(text[pos + 2 : pos + 6], 16)
                if text.startswith("\\u", pos) and _HEX4.match(text, pos + 2)
                else -1
            )
            if code <= 0xDBFF and 0xDC00 <= low <= 0xDFFF:
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                pos += 6
            else:
                code = 0xFFFD
        chunks.append(chr(code))


def _scan_number(text: str, pos: int) -> tuple[float, int]:
    m = _NUMBER.match(text, pos)
    if m is None:
        raise JsonDecodeError("invalid number")
    end = m.end()
    after = text[end : end + 1]
    # The regex stops before a fraction or exponent without digits; the scanner fails on one
    # (stateDot, stateE, stateESign) even at the top level, where other trailing bytes are ignored.
    if (after in ("e", "E") and m.group(2) is None) or (
        after == "." and m.group(1) is None and m.group(2) is None
    ):
        raise JsonDecodeError("invalid number")
    return _float(m.group()), end


def _scan_key(text: str, pos: int) -> tuple[str, int]:
    """An object key and its colon at ``pos``; the index of the value after them."""
    if not text.startswith('"', pos):
        raise JsonDecodeError("expected an object key")
    key, pos = _scan_string(text, pos + 1)
    pos = _WS.match(text, pos).end()  # type: ignore[union-attr]  # matches the empty string
    if not text.startswith(":", pos):
        raise JsonDecodeError("expected ':' after an object key")
    return key, _WS.match(text, pos + 1).end()  # type: ignore[union-attr]


def _float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):  # strconv.ParseFloat: ErrRange, an UnmarshalTypeError in convertNumber
        raise JsonDecodeError("number out of float64 range")
    return value


def _no_constant(literal: str) -> JsonValue:
    raise JsonDecodeError(f"invalid character {literal[0]!r} looking for beginning of value")


# The C decoder, for speed, set up to read what go-ordered-json reads into the same values: numbers
# as float64, objects as member lists, no NaN/Infinity. It differs on lone surrogates (it keeps them)
# and on a top-level number's tail, and its recursion is bounded, so it only reads documents that
# start with { or [ and have no \uD800-\uDFFF escape; whatever it refuses, _decode_iterative decides.
_C_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=JsonObject,
    parse_float=_float,
    parse_int=_float,
    parse_constant=_no_constant,
    strict=True,
)
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")


def decode_first(text: str) -> JsonValue:
    """The first JSON value in ``text``, as go-ordered-json's ``Decoder.Decode`` reads it.

    Raises :class:`JsonDecodeError` where the decoder returns an error.
    """
    pos = _WS.match(text, 0).end()  # type: ignore[union-attr]
    if text.startswith(("{", "["), pos) and _SURROGATE_ESCAPE.search(text, pos) is None:
        try:
            value: JsonValue = _C_DECODER.raw_decode(text, pos)[0]
            return value
        except (ValueError, RecursionError):
            pass  # invalid, or too deep for the C decoder: the iterative one says which
    return _decode_iterative(text, pos)


def _decode_iterative(text: str, pos: int) -> JsonValue:
    """:func:`decode_first` from ``pos`` (after leading whitespace), without recursion."""
    ws = _WS.match
    stack: list[list[JsonValue] | JsonObject] = []  # the open containers, outermost first
    keys: list[str] = []  # the pending key of each open object
    while True:
        value: JsonValue
        c = text[pos : pos + 1]
        if c == "{":
            pos = ws(text, pos + 1).end()  # type: ignore[union-attr]
            if text.startswith("}", pos):
                value, pos = JsonObject([]), pos + 1
            else:
                stack.append(JsonObject([]))
                key, pos = _scan_key(text, pos)
                keys.append(key)
                continue
        elif c == "[":
            pos = ws(text, pos + 1).end()  # type: ignore[union-attr]
            if text.startswith("]", pos):
                value, pos = [], pos + 1
            else:
                stack.append([])
                continue
        elif c == '"':
            value, pos = _scan_string(text, pos + 1)
        elif c and c in "-0123456789":
            value, pos = _scan_number(text, pos)
        else:
            for word, literal in _LITERALS:
                if text.startswith(word, pos):
                    value, pos = literal, pos + len(word)
                    break
            else:
                raise JsonDecodeError("invalid character looking for beginning of value")
        # Attach the finished value to its container; close every container it finishes.
        while stack:
            pos = ws(text, pos).end()  # type: ignore[union-attr]
            c = text[pos : pos + 1]
            parent = stack[-1]
            if type(parent) is list:
                parent.append(value)
                closer = "]"
            else:
                assert isinstance(parent, JsonObject)
                parent.members.append((keys.pop(), value))
                closer = "}"
            if c == ",":
                pos = ws(text, pos + 1).end()  # type: ignore[union-attr]
                if closer == "}":
                    key, pos = _scan_key(text, pos)
                    keys.append(key)
                break
            if c != closer:
                raise JsonDecodeError(f"expected ',' or '{closer}'")
            pos += 1
            value = stack.pop()
        else:
            return value  # the top-level value; what follows it is not read


def decode_string(literal: str) -> str:
    """``literal`` (with its double quotes) as ``json.Unmarshal`` into a Go string reads it.

    Raises :class:`JsonDecodeError` unless ``literal`` is exactly one JSON string.
    """
    if not literal.startswith('"'):
        raise JsonDecodeError("not a string")
    value, end = _scan_string(literal, 1)
    if end != len(literal):
        raise JsonDecodeError("invalid character after top-level value")
    return value


# htmlSafeSet (tables.go): the ASCII characters written as they are when escapeHTML is on.
_UNSAFE: Final = re.compile(r"[^ !#$%()*,\-./0-9:;=?@A-Z\[\]^_a-z{|}~]")
_SHORT_ESCAPES: Final = {"\\": "\\\\", "\b": "\\b", "\n": "\\n", "\f": "\\f", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    short = _SHORT_ESCAPES.get(c)
    if short is not None:
        return short
    code = ord(c)
    if code < 0x10000:
        return f"\\u{code:04X}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}"


def _quote(s: str) -> str:
    if _UNSAFE.search(s) is None:
        return '"' + s + '"'
    return '"' + _UNSAFE.sub(_escape, s) + '"'


_EXACT_INTEGERS: Final = 2.0**53


def _format_float(value: float) -> str:
    """floatEncoder: strconv 'f' ('e' below 1e-6 and from 1e21), shortest digits, ``e-07`` as ``e-7``."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    if value.is_integer():
        if abs(value) < _EXACT_INTEGERS:
            return str(int(value))  # below 2**53 the shortest digits are the integer's own
    else:
        text = repr(value)
        if "e" not in text:  # 1e-4 <= |value| < 1e16: repr is the shortest digits written as 'f' does
            return text
    return _format_shortest(value)


def _format_shortest(value: float) -> str:
    """:func:`_format_float` for any finite non-zero value, from repr's shortest digits."""
    # repr is the shortest string that reads back as the same float64, as strconv's -1 precision.
    text = repr(abs(value))
    mantissa, _, exp_text = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    # The power of ten of the first significant digit (value = d.ddd * 10**point):
    point = len(whole) + (int(exp_text) if exp_text else 0) - (len(whole + fraction) - len(digits)) - 1
    digits = digits.rstrip("0") or "0"
    sign = "-" if value < 0 else ""
    if abs(value) < 1e-6 or abs(value) >= 1e21:
        head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{head}e{'-' if point < 0 else '+'}{abs(point)}"
    if point < 0:
        return f"{sign}0.{'0' * (-point - 1)}{digits}"
    if point + 1 >= len(digits):
        return sign + digits + "0" * (point + 1 - len(digits))
    return f"{sign}{digits[: point + 1]}.{digits[point + 1 :]}"


class _Raw(str):
    """Text :func:`encode` writes as it is (punctuation, a quoted key), told apart from a string value."""

    __slots__ = ()


_COMMA: Final = _Raw(",")
_ARRAY_OPEN: Final = _Raw("[")
_ARRAY_CLOSE: Final = _Raw("]")
_OBJECT_OPEN: Final = _Raw("{")
_OBJECT_CLOSE: Final = _Raw("}")


def encode(value: JsonValue) -> bytes:
    """``value`` as go-ordered-json's ``Marshal`` writes it (compact, ASCII)."""
    out: list[str] = []
    todo: list[JsonValue | _Raw] = [value]  # what is left to write, last first
    while todo:
        item = todo.pop()
        kind = type(item)
        if kind is _Raw:
            out.append(item)  # type: ignore[arg-type]
        elif kind is str:
            out.append(_quote(item))  # type: ignore[arg-type]
        elif kind is float:
            out.append(_format_float(item))  # type: ignore[arg-type]
        elif item is None:
            out.append("null")
        elif kind is bool:
            out.append("true" if item else "false")
        elif kind is list:
            todo.append(_ARRAY_CLOSE)
            elements: list[JsonValue] = item  # type: ignore[assignment]
            for i in range(len(elements) - 1, -1, -1):
                todo.append(elements[i])
                if i:
                    todo.append(_COMMA)
            todo.append(_ARRAY_OPEN)
        elif kind is JsonObject:
            todo.append(_OBJECT_CLOSE)
            members = item.members  # type: ignore[union-attr]
            for i in range(len(members) - 1, -1, -1):
                key, member = members[i]
                todo.append(member)
                todo.append(_Raw(("," if i else "") + _quote(key) + ":"))
            todo.append(_OBJECT_OPEN)
        else:
            raise TypeError(f"not a JSON value: {kind.__name__}")
    return "".join(out).encode("ascii")

"""The Neo N3 oracle's JSONPath dialect, as neo-go's ``pkg/services/oracle/jsonpath/jsonpath.go`` has it.

A path is ``$`` then steps: ``.name``, ``.*``, ``..name`` (recursive descent), ``[*]``, ``[i]`` (an
int32, negative counts from the end), ``[i,j,...]``, ``['name']`` (the quoted text is read as the
inside of a JSON string), ``['a','b',...]``, and ``[start:end]`` (int32s, each optional; a negative
one counts from the end, and an ``end`` of 0 or none means the end of the array). There is no slice
step, no filter expression, no quoted name after a dot. The empty path selects the whole document.

Limits, as neo-go's ``maxNestingDepth`` and ``maxObjects``:

- each step but ``..`` takes one level of a budget of :data:`MAX_DEPTH` and fails when none is left;
  ``..name`` takes one level per level of the document it descends (at least one when its input is
  not empty), stopping silently when the budget or :data:`MAX_OBJECTS` runs out;
- a step that would select more than :data:`MAX_OBJECTS` values fails.

A path is parsed once (:func:`parse_path`) into steps, then run against documents
(:meth:`JsonPath.select`); neo-go interleaves the two, with the same outcome, since every failure is
the same ``(nil, false)``.

Where this differs from neo-go: a slice whose negative start still lies before the array after
adding its length (``$[-10:]`` on ``[1,2,3,4]``, unless more than 1,024 values would be selected)
makes neo-go's ``descendByRange`` panic with an out-of-range slice, which stops the node; here it is
a :class:`JsonPathError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from neo_service_layer.enclave.oracle.ordered_json import (
    JsonDecodeError,
    JsonObject,
    JsonValue,
    decode_string,
)

__all__ = ["MAX_DEPTH", "MAX_OBJECTS", "JsonPath", "JsonPathError", "parse_path"]

MAX_DEPTH: Final = 6
"""neo-go ``maxNestingDepth``: how many levels a path may descend."""
MAX_OBJECTS: Final = 1024
"""neo-go ``maxObjects``: how many values a step may select."""

_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1


class JsonPathError(ValueError):
    """The path is invalid, or selecting with it failed (where neo-go's ``Get`` returns false)."""


@dataclass(frozen=True, slots=True)
class _Wildcard:
    """``.*`` or ``[*]``: every element of an array, every member value of an object (``descend``)."""


@dataclass(frozen=True, slots=True)
class _Recursive:
    """``..name``: ``name`` at this level and every level below (``descendRecursive``)."""

    name: str


@dataclass(frozen=True, slots=True)
class _Names:
    """``.name``, ``['name']``, ``['a','b']``: each name's first member (``descendByIdent``)."""

    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Indices:
    """``[i]``, ``[i,j]``: array elements by index (``descendByIndex``)."""

    indices: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Slice:
    """``[start:end]`` (``descendByRange``)."""

    start: int
    end: int


_Step = _Wildcard | _Recursive | _Names | _Indices | _Slice

# nextToken's tokens: the single characters, 'quoted' (no escape for the quote), identifiers, numbers.
_TOKEN: Final = re.compile(r"[$.\[\]*,:]|'[^']*'|[A-Za-z_][A-Za-z0-9_]*|-?[0-9]*")
_IDENT_START: Final = frozenset("_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _kind(token: str) -> str:
    """The token's type: itself for punctuation, else ``'`` string, ``a`` identifier, ``0`` number."""
    first = token[0]
    if first == "'":
        return "'"
    if first in _IDENT_START:
        return "a"
    if first == "-" or first.isdigit():
        return "0"
    return first


def _int32(token: str) -> int:
    """strconv.ParseInt(token, 10, 32)."""
    digits = token.removeprefix("-").lstrip("0")
    if token in ("", "-") or len(digits) > 10:  # a bare "-", or too long for int() to be worth calling
        raise JsonPathError("invalid index")
    value = int(token)
    if not _INT32_MIN <= value <= _INT32_MAX:
        raise JsonPathError("index out of int32 range")
    return value


def _name(token: str) -> str:
    """A quoted name: the text between the quotes read as the inside of a JSON string."""
    try:
        return decode_string('"' + token[1:-1] + '"')
    except JsonDecodeError as e:
        raise JsonPathError("invalid quoted name") from e


class _Tokens:
    """The path's tokens, read one at a time as neo-go's ``pathParser.nextToken``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pos = 0

    def more(self) -> bool:
        return self.pos < len(self.path)

    def next(self) -> tuple[str, str]:
        """(type, text) of the next token; an invalid or missing one raises :class:`JsonPathError`."""
        m = _TOKEN.match(self.path, self.pos)
        if m is None or m.end() == self.pos:  # also an unterminated quote
            raise JsonPathError("invalid path")
        self.pos = m.end()
        token = m.group()
        return _kind(token), token

    def expect(self, kind: str) -> str:
        got, token = self.next()
        if got != kind:
            raise JsonPathError("invalid path")
        return token


def _union(tokens: _Tokens, kind: str, first: str) -> _Step:
    """``[a,b,...]`` after its first comma: all numbers or all quoted names (``processUnion``)."""
    items = [first]
    while True:
        items.append(tokens.expect(kind))
        got, _ = tokens.next()
        if got == "]":
            break
        if got != ",":
            raise JsonPathError("invalid path")
    if kind == "0":
        return _Indices(tuple(_int32(item) for item in items))
    return _Names(tuple(_name(item) for item in items))


def _bracket(tokens: _Tokens) -> _Step:
    """The step after ``[`` (``processLeftBracket``, ``processSlice``)."""
    kind, token = tokens.next()
    if kind == "*":
        tokens.expect("]")
        return _Wildcard()
    if kind == ":":
        start = 0
    elif kind == "0":
        after, _ = tokens.next()
        if after == ",":
            return _union(tokens, kind, token)
        if after == "]":
            return _Indices((_int32(token),))
        if after != ":":
            raise JsonPathError("invalid path")
        start = _int32(token)
    elif kind == "'":
        after, _ = tokens.next()
        if after == ",":
            return _union(tokens, kind, token)
        if after != "]":
            raise JsonPathError("invalid path")
        return _Names((_name(token),))
    else:
        raise JsonPathError("invalid path")
    kind, token = tokens.next()
    if kind == "]":
        return _Slice(start, 0)
    if kind != "0":
        raise JsonPathError("invalid path")
    tokens.expect("]")
    return _Slice(start, _int32(token))


def _dot(tokens: _Tokens) -> _Step:
    """The step after ``.`` (``processDot``)."""
    kind, token = tokens.next()
    if kind == "*":
        return _Wildcard()
    if kind == ".":
        return _Recursive(tokens.expect("a"))
    if kind == "a":
        return _Names((token,))
    raise JsonPathError("invalid path")


def parse_path(path: str) -> JsonPath:
    """``path`` parsed; :class:`JsonPathError` if neo-go's ``Get`` would fail on it whatever the document.

    That is a syntax error, an index outside int32, an invalid quoted name, or more levels than
    :data:`MAX_DEPTH` (counting a leading ``..`` as one, the least it takes).
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate: the native Oracle contract takes UTF-8 only
        raise JsonPathError("path is not UTF-8") from e
    steps: list[_Step] = []
    if path:
        tokens = _Tokens(path)
        if tokens.next()[0] != "$":
            raise JsonPathError("path does not start with $")
        while tokens.more():
            kind, _ = tokens.next()
            if kind == ".":
                steps.append(_dot(tokens))
            elif kind == "[":
                steps.append(_bracket(tokens))
            else:
                raise JsonPathError("invalid path")
    least_depth = sum(not isinstance(step, _Recursive) for step in steps)
    least_depth += bool(steps) and isinstance(steps[0], _Recursive)
    if least_depth > MAX_DEPTH:
        raise JsonPathError("path too deep")
    return JsonPath(path, tuple(steps))


def _too_many() -> JsonPathError:
    return JsonPathError("too many values selected")


def _descend(objs: list[JsonValue]) -> list[JsonValue] | None:
    """Every element and member value; None where neo-go's ``descend`` overflows."""
    values: list[JsonValue] = []
    for obj in objs:
        if type(obj) is list:
            children = obj
        elif type(obj) is JsonObject:
            children = [value for _, value in obj.members]
        else:
            continue
        if len(values) + len(children) > MAX_OBJECTS:
            return None
        values.extend(children)
    return values


def _by_names(objs: list[JsonValue], names: tuple[str, ...]) -> list[JsonValue] | None:
    """The first member named each name, object by object; None on overflow (``descendByIdentAux``)."""
    values: list[JsonValue] = []
    for obj in objs:
        if type(obj) is not JsonObject:
            continue
        for name in names:
            for key, value in obj.members:
                if key == name:
                    if len(values) == MAX_OBJECTS:
                        return None
                    values.append(value)
                    break
    return values


def _by_indices(objs: list[JsonValue], indices: tuple[int, ...]) -> list[JsonValue]:
    values: list[JsonValue] = []
    for obj in objs:
        if type(obj) is not list:
            continue
        for index in indices:
            if index < 0:
                index += len(obj)
            if 0 <= index < len(obj):
                if len(values) == MAX_OBJECTS:
                    raise _too_many()
                values.append(obj[index])
    return values


def _by_range(objs: list[JsonValue], start: int, end: int) -> list[JsonValue]:
    values: list[JsonValue] = []
    for arr in objs:
        if type(arr) is not list:
            continue
        sub_start = start + len(arr) if start < 0 else start
        sub_end = min(end + len(arr) if end <= 0 else end, len(arr))
        if sub_end <= sub_start:
            continue
        if len(values) + sub_end - sub_start > MAX_OBJECTS:
            raise _too_many()
        if sub_start < 0:  # neo-go panics here (slice bounds out of range); see the module docstring
            raise JsonPathError("slice starts before the array")
        values.extend(arr[sub_start:sub_end])
    return values


@dataclass(frozen=True, slots=True)
class JsonPath:
    """A parsed path: :meth:`select` runs it against a decoded document."""

    text: str
    steps: tuple[_Step, ...]

    def select(self, document: JsonValue) -> list[JsonValue]:
        """The values the path selects in ``document``, in neo-go's order (``jsonpath.Get``).

        Raises :class:`JsonPathError` where ``Get`` returns false: a step selecting more than
        :data:`MAX_OBJECTS` values, or descending more than :data:`MAX_DEPTH` levels.
        """
        depth = MAX_DEPTH
        objs: list[JsonValue] = [document]
        for step in self.steps:
            if isinstance(step, _Recursive):
                objs, depth = _recursive(objs, step.name, depth)
                continue
            if depth <= 0:
                raise JsonPathError("path too deep")
            depth -= 1
            if isinstance(step, _Names):
                selected = _by_names(objs, step.names)
            elif isinstance(step, _Wildcard):
                selected = _descend(objs)
            elif isinstance(step, _Indices):
                selected = _by_indices(objs, step.indices)
            else:
                selected = _by_range(objs, step.start, step.end)
            if selected is None:
                raise _too_many()
            objs = selected
        return objs


def _recursive(objs: list[JsonValue], name: str, depth: int) -> tuple[list[JsonValue], int]:
    """``..name`` (``descendRecursive``): the values found and the depth budget left."""
    values: list[JsonValue] = []
    level: list[JsonValue] | None = objs
    while level:
        # neo-go ignores the overflow of one level's lookup (newObjs is nil) and fails only on the total.
        found = _by_names(level, (name,)) or []
        if len(values) + len(found) > MAX_OBJECTS:
            raise _too_many()
        values.extend(found)
        # ``descend`` spends a level even when it then overflows; either way the loop just ends.
        if depth <= 0:
            break
        depth -= 1
        level = _descend(level)
    return values, depth

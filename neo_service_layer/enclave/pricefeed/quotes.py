"""What an adapter gives — a :class:`Quote` or a :class:`QuoteRejected` with a stable code — and the
strict readers of the values in an exchange's answer that every adapter shares.

Prices are :class:`~decimal.Decimal` from the text on (``parse_float=Decimal``; the exchanges send
strings), never floats. The JSON is read strictly: a duplicate key or a bare ``NaN`` is malformed
(:mod:`..canonical`'s hooks). A believable price is positive, at most :data:`MAX_PRICE`, with at most
:data:`MAX_FRACTION_DIGITS` significant fractional digits (:func:`check_price`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal, get_args

from neo_service_layer.enclave.canonical import refuse_constants, refuse_duplicate_keys

type QuoteRejectionCode = Literal[
    "malformed", "unknown_symbol", "zero", "negative", "absurd", "exchange_error"
]
QUOTE_REJECTION_CODES: Final[tuple[str, ...]] = get_args(QuoteRejectionCode.__value__)
MAX_PRICE: Final = Decimal(10) ** 12
"""Above this no asset's price is believed: a unit mix-up or a broken feed, not a market."""
MAX_FRACTION_DIGITS: Final = 18
"""Significant fractional digits a price may carry (wei precision): more is noise or an attack on cost."""
# Bounds on a volume's or timestamp's text: generous for any market, small enough to stay cheap.
_MAX_VOLUME_DIGITS: Final = 40
_MAX_UNIX_SECONDS: Final = 10**11  # the year 5138: a timestamp beyond is a unit error
_DETAIL_CHARS: Final = 160  # how much of an exchange's own error message a detail quotes

# A plain decimal number as text (what every exchange sends): Decimal() alone would also take
# "1_000", " 1 " and "NaN", which no exchange means as a price.
# The exponent is bounded: Decimal() refuses "1e" followed by 25 digits, and nothing real needs them.
_NUMBER: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,6})?")
_NOT_FINITE: Final = re.compile(r"[+-]?(?:s?nan|inf(?:inity)?)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Quote:
    """One source's answer: a price in the quote currency, when the exchange says it is from, and
    the 24 h base volume where the API gives it."""

    price: Decimal
    quote_time: int | None
    volume: Decimal | None


class QuoteRejected(Exception):
    """The body gives no usable quote. ``code`` is one of :data:`QUOTE_REJECTION_CODES`; ``detail`` is
    a sentence for the operator."""

    def __init__(self, code: str, detail: str) -> None:
        if code not in QUOTE_REJECTION_CODES:
            raise ValueError(f"unknown quote rejection code {code!r}")
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def load_json(body: bytes) -> Any:
    """``body`` as strict JSON, floats as Decimal; malformed when it is not."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise QuoteRejected("malformed", "the body is not UTF-8") from None
    try:
        return json.loads(
            text,
            parse_float=Decimal,
            object_pairs_hook=refuse_duplicate_keys,
            parse_constant=refuse_constants,
        )
    except (ValueError, RecursionError) as e:
        # ValueError covers JSONDecodeError, a duplicate key, NaN, and an int over Python's digit limit.
        raise QuoteRejected("malformed", f"the body is not JSON ({short(str(e))})") from None


def short(text: object) -> str:
    """An exchange's own message, shortened and made printable, for a detail."""
    cleaned = "".join(c if c.isprintable() else "?" for c in str(text))
    return cleaned if len(cleaned) <= _DETAIL_CHARS else cleaned[: _DETAIL_CHARS - 1] + "…"


def field(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, dict):
        raise QuoteRejected("malformed", f"{where} is not a JSON object")
    if key not in mapping:
        raise QuoteRejected("malformed", f"{where} has no {key!r}")
    return mapping[key]


def number(value: Any, what: str, *, text: bool) -> Decimal:
    """A JSON number (``text`` False) or numeric string (``text`` True) as Decimal; a value of the
    wrong kind is malformed, a non-finite one absurd."""
    if text:
        if not isinstance(value, str):
            raise QuoteRejected("malformed", f"{what} is not a numeric string")
        if _NOT_FINITE.fullmatch(value):
            raise QuoteRejected("absurd", f"{what} is {value!r}, not a number")
        if not _NUMBER.fullmatch(value):
            raise QuoteRejected("malformed", f"{what} {short(repr(value))} is not a decimal number")
        return Decimal(value)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise QuoteRejected("malformed", f"{what} is not a JSON number")
    return Decimal(value)


def _fraction_digits(value: Decimal) -> int:
    """Significant digits after the point (trailing zeros do not count), without rounding."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite
    trailing = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    return max(0, -(exponent + trailing)) if any(digits) else 0


def check_price(value: Decimal, what: str = "the price") -> Decimal:
    """``value`` if it is a believable price; else QuoteRejected: absurd (not finite, over
    :data:`MAX_PRICE`, more than :data:`MAX_FRACTION_DIGITS` fractional digits), zero or negative."""
    if not value.is_finite():
        raise QuoteRejected("absurd", f"{what} is {value}, not a number")
    if value.is_zero():
        raise QuoteRejected("zero", f"{what} is zero")
    if value.is_signed():
        raise QuoteRejected("negative", f"{what} is negative ({value})")
    if value > MAX_PRICE:
        raise QuoteRejected("absurd", f"{what} is over 10^12")
    if _fraction_digits(value) > MAX_FRACTION_DIGITS:
        raise QuoteRejected("absurd", f"{what} has more than {MAX_FRACTION_DIGITS} fractional digits")
    return value


def read_price(value: Any, *, text: bool = True) -> Decimal:
    return check_price(number(value, "the price", text=text))


def read_volume(value: Any, *, text: bool = True) -> Decimal | None:
    """A 24 h volume: None when the API gives none (null); a negative or huge one is malformed."""
    if value is None:
        return None
    if text and isinstance(value, str) and _NOT_FINITE.fullmatch(value):
        raise QuoteRejected("malformed", f"the volume is {value!r}")
    volume = number(value, "the volume", text=text)
    if volume.is_signed() or len(volume.as_tuple().digits) > _MAX_VOLUME_DIGITS:
        raise QuoteRejected("malformed", f"the volume {volume} is negative or too long")
    if abs(volume.adjusted()) > _MAX_VOLUME_DIGITS:
        raise QuoteRejected("malformed", "the volume's exponent is out of range")
    return volume


def unix_seconds(seconds: int, what: str) -> int:
    if not 0 < seconds < _MAX_UNIX_SECONDS:
        raise QuoteRejected("malformed", f"{what} {seconds} is not a Unix time")
    return seconds


def millis(value: Any, what: str, *, text: bool) -> int:
    """Unix milliseconds (a JSON integer, or its decimal string) as whole seconds."""
    if text:
        if not (isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 16):
            raise QuoteRejected("malformed", f"{what} is not a millisecond timestamp string")
        value = int(value)
    elif isinstance(value, bool) or not isinstance(value, int):
        raise QuoteRejected("malformed", f"{what} is not an integer")
    return unix_seconds(value // 1000, what)


_ISO_8601: Final = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")


def iso_time(value: Any, what: str) -> int:
    """An RFC 3339 time (``2020-03-20T00:22:57.833897Z``) as whole Unix seconds (fraction dropped)."""
    match = _ISO_8601.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise QuoteRejected("malformed", f"{what} is not an RFC 3339 time")
    zone = "+00:00" if match[3] == "Z" else match[3]
    try:
        moment = dt.datetime.fromisoformat(match[1] + zone)
    except ValueError:
        raise QuoteRejected("malformed", f"{what} is not a valid date and time") from None
    return unix_seconds(int(moment.timestamp()), what)

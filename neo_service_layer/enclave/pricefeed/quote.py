"""One exchange's quote, as an adapter parsed it, and why an adapter refuses one (docs: the price-feed
design, issue 15).

Shared by the adapters (``adapters.py``), which make them, and the aggregation (``aggregate.py``),
which takes them: a module of its own so that neither imports the other. Prices are ``Decimal`` from
the moment they are parsed, never float.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Final

#: The stable codes of :class:`QuoteRejected`; a source's report carries one as its status.
QUOTE_REJECTION_CODES: Final = ("malformed", "unknown_symbol", "zero", "negative", "absurd", "exchange_error")


@dataclass(frozen=True, slots=True)
class Quote:
    """A price of one market at one exchange."""

    price: Decimal  # > 0, in the quote currency
    quote_time: int | None  # Unix seconds the exchange says the price is from (None if the API gives none)
    volume: Decimal | None  # 24 h base volume where the API gives it


class QuoteRejected(Exception):
    """An exchange's answer that is no usable quote: ``code`` is one of :data:`QUOTE_REJECTION_CODES`,
    ``detail`` a human sentence."""

    def __init__(self, code: str, detail: str) -> None:
        if code not in QUOTE_REJECTION_CODES:
            raise ValueError(f"unknown quote rejection code {code!r}")
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

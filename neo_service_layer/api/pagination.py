"""Cursor pagination: ``?limit=&cursor=``, ordered by a sortable unique column, opaque cursors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import BigInteger, Integer, Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from neo_service_layer.config.settings import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from neo_service_layer.errors import ValidationFailed

MAX_CURSOR_LENGTH = 512
# A cursor is opaque but decodable, so its value is checked before it reaches SQL: the range of the
# database's integer columns (INTEGER is 32-bit on PostgreSQL, BIGINT 64-bit) and printable strings
# (PostgreSQL refuses NUL bytes in text).
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
MAX_CURSOR_STRING = 255


class PageParams(BaseModel):
    limit: int
    after: Any | None


class Page[T](BaseModel):
    """One page of results and the cursor of the next (null on the last page)."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(after: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def _valid_after(after: Any) -> bool:
    if isinstance(after, bool):
        return False
    if isinstance(after, int):
        return _INT64[0] <= after <= _INT64[1]
    return isinstance(after, str) and 0 < len(after) <= MAX_CURSOR_STRING and after.isprintable()


def decode_cursor(cursor: str) -> Any:
    """The ``after`` value of a cursor made by :func:`encode_cursor`, or ValidationFailed (a 422)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(data, dict) or "after" not in data or not _valid_after(data["after"]):
            raise ValueError("cursor shape")
        return data["after"]
    except (ValueError, binascii.Error, RecursionError) as exc:
        raise ValidationFailed("invalid cursor", parameter="cursor") from exc


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page")] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None, Query(max_length=MAX_CURSOR_LENGTH, description="next_cursor of the previous page")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, after=decode_cursor(cursor) if cursor else None)


PageDep = Annotated[PageParams, Depends(page_params)]


def _fits(column: InstrumentedAttribute[Any], value: Any) -> bool:
    """Whether a decoded cursor value has the column's type (and range)."""
    column_type = column.type
    if not isinstance(value, column_type.python_type):
        return False
    if isinstance(column_type, Integer) and not isinstance(column_type, BigInteger):
        return bool(_INT32[0] <= value <= _INT32[1])
    return True


async def paginate[M, T](
    session: AsyncSession,
    statement: Select[M],
    order_column: InstrumentedAttribute[Any],
    params: PageParams,
    to_item: Callable[[M], T],
) -> Page[T]:
    """Run ``statement`` for one page after the cursor, ascending by ``order_column``."""
    if params.after is not None:
        if not _fits(order_column, params.after):
            raise ValidationFailed("invalid cursor", parameter="cursor")
        statement = statement.where(order_column > params.after)
    rows: Sequence[M] = (
        (await session.execute(statement.order_by(order_column).limit(params.limit + 1))).scalars().all()
    )
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    next_cursor = encode_cursor(getattr(rows[-1], order_column.key)) if has_more and rows else None
    return Page[T](items=[to_item(row) for row in rows], next_cursor=next_cursor)

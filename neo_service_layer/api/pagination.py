"""Cursor pagination: ``?limit=&cursor=``, ordered by a sortable unique column, opaque cursors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from neo_service_layer.config import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from neo_service_layer.errors import ValidationFailed


class PageParams(BaseModel):
    limit: int
    after: Any | None


class Page[T](BaseModel):
    """One page of results and the cursor of the next (null on the last page)."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(after: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(data, dict) or "after" not in data or not isinstance(data["after"], str | int):
            raise ValueError("cursor shape")
        return data["after"]
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed("invalid cursor", parameter="cursor") from exc


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page")] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None, Query(max_length=512, description="next_cursor of the previous page")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, after=decode_cursor(cursor) if cursor else None)


PageDep = Annotated[PageParams, Depends(page_params)]


async def paginate[M, T](
    session: AsyncSession,
    statement: Select[M],
    order_column: InstrumentedAttribute[Any],
    params: PageParams,
    to_item: Callable[[M], T],
) -> Page[T]:
    """Run ``statement`` for one page after the cursor, ascending by ``order_column``."""
    if params.after is not None:
        if not isinstance(params.after, order_column.type.python_type):
            raise ValidationFailed("invalid cursor", parameter="cursor")
        statement = statement.where(order_column > params.after)
    rows: Sequence[M] = (
        (await session.execute(statement.order_by(order_column).limit(params.limit + 1))).scalars().all()
    )
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    next_cursor = encode_cursor(getattr(rows[-1], order_column.key)) if has_more and rows else None
    return Page[T](items=[to_item(row) for row in rows], next_cursor=next_cursor)

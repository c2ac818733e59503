"""Where each chain watcher got to: one row per chain, moved forward in the transaction that enqueues
the requests it found, so progress and the jobs it produced are committed together or not at all.

The cursor itself is opaque JSON to this module (each chain adapter has its own shape, e.g.
``chains.evm.watcher.Cursor``). Saving is a compare-and-set on ``version``: if two watchers scanned the
same blocks at once (a stalled one and its successor), one commit wins and the other raises
:class:`CursorMoved`, so its transaction, jobs included, rolls back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, CursorResult, Integer, String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from neo_service_layer.db.base import Base, UTCDateTime, utcnow
from neo_service_layer.errors import Conflict


class ChainCursor(Base):
    """The progress of one chain's watcher."""

    __tablename__ = "chain_cursors"

    chain: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[Any] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CursorMoved(Conflict):
    """Another watcher stored a newer cursor for this chain since this one read it."""

    code = "chain_cursor_moved"
    title = "Chain cursor moved concurrently"


@dataclass(frozen=True, slots=True)
class StoredCursor:
    """A cursor as read: its position and the version to compare against when saving."""

    position: Any
    version: int  # 0 = no row yet


async def load_cursor(session: AsyncSession, chain: str) -> StoredCursor:
    """The stored cursor of ``chain``, or ``StoredCursor(None, 0)`` if the watcher never saved one."""
    row = await session.scalar(select(ChainCursor).where(ChainCursor.chain == chain))
    if row is None:
        return StoredCursor(None, 0)
    return StoredCursor(row.position, row.version)


async def save_cursor(session: AsyncSession, chain: str, position: Any, *, expected_version: int) -> int:
    """Store ``position`` if the row is still at ``expected_version``; the new version.

    Raises :class:`CursorMoved` otherwise. Runs in the caller's transaction and flushes at once, so a
    lost race surfaces before the caller commits the jobs it enqueued alongside.
    """
    new_version = expected_version + 1
    if expected_version == 0:
        session.add(ChainCursor(chain=chain, position=position, version=new_version))
        try:
            await session.flush()
        except IntegrityError as e:
            raise CursorMoved(f"the cursor of {chain} was created concurrently") from e
        return new_version
    result = await session.execute(
        update(ChainCursor)
        .where(ChainCursor.chain == chain, ChainCursor.version == expected_version)
        .values(position=position, version=new_version, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        raise CursorMoved(f"the cursor of {chain} moved past version {expected_version}")
    return new_version

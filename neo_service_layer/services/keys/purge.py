"""Deleting keys whose deletion date has passed, wrapped material included (the ``keys.purge`` job of
``worker/service_jobs.py``).

Reads already treat such keys as gone (``service.not_deleted``), so the purge only has to remove the
rows; it deletes in batches, each its own short transaction
(SQLite has one writer: API requests interleave with a large purge). ``key_versions`` rows go with
their key (``ON DELETE CASCADE``, and explicitly, so a database without foreign keys enforced is purged too).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from neo_service_layer.db.session import Database
from neo_service_layer.services.keys.models import Key, KeyState, KeyVersion

PURGE_BATCH_SIZE = 500


async def purge_deleted_keys(db: Database, *, now: datetime, batch_size: int = PURGE_BATCH_SIZE) -> int:
    """Delete every key (of every account) pending deletion with a deletion date at or before ``now``."""
    purged = 0
    while True:
        async with db.transaction() as session:
            ids = (
                (
                    await session.execute(
                        select(Key.id)
                        .where(Key.state == KeyState.PENDING_DELETION, Key.deletion_date <= now)
                        .limit(batch_size)
                    )
                )
                .scalars()
                .all()
            )
            if ids:
                await session.execute(
                    delete(KeyVersion)
                    .where(KeyVersion.key_id.in_(ids))
                    .execution_options(synchronize_session=False)
                )
                await session.execute(
                    delete(Key).where(Key.id.in_(ids)).execution_options(synchronize_session=False)
                )
        purged += len(ids)
        if len(ids) < batch_size:
            return purged

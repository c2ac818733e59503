"""Key versions as a :class:`RewrapSource`: AMK rotation moves their wrapped material to the new AMK."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.enclave.opdefs.keys import material_context
from neo_service_layer.enclave.wrapping import WrapPurpose
from neo_service_layer.services.keys.models import KeyVersion
from neo_service_layer.services.masterkeys.service import Wrapped


class KeyVersionSource:
    """The ``key_versions`` table: material wrapped with purpose ``key-material``, ``<key_id>:<version>``."""

    async def older_than(self, session: AsyncSession, version: int, limit: int) -> Sequence[Wrapped]:
        rows = (
            (
                await session.execute(
                    select(KeyVersion)
                    .where(KeyVersion.amk_version < version)
                    .order_by(KeyVersion.id)
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )
        return [
            Wrapped(
                ref=row.id,
                purpose=WrapPurpose.KEY_MATERIAL,
                context=material_context(row.key_id, row.version),
                amk_version=row.amk_version,
                wrapped=row.wrapped_material,
            )
            for row in rows
        ]

    async def store(self, session: AsyncSession, item: Wrapped, version: int, wrapped: bytes) -> None:
        row = await session.get(KeyVersion, item.ref)
        if row is None:  # deleted meanwhile (the key was purged): nothing to move
            return
        row.wrapped_material = wrapped
        row.amk_version = version

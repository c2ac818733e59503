"""Secret data keys as a :class:`RewrapSource`: AMK rotation moves each version's wrapped DEK to the new
AMK inside the enclave. The ciphertext does not change (the DEK itself is the same), only its wrapping.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.enclave.opdefs.secrets import dek_context
from neo_service_layer.enclave.wrapping import WrapPurpose
from neo_service_layer.services.masterkeys.service import Wrapped
from neo_service_layer.services.secrets.models import SecretVersion


class SecretDekSource:
    """The ``secret_versions`` table: DEKs wrapped with purpose ``secret-dek``, ``<secret_id>:<version>``."""

    async def older_than(self, session: AsyncSession, version: int, limit: int) -> Sequence[Wrapped]:
        rows = (
            await session.execute(
                select(
                    SecretVersion.id,
                    SecretVersion.secret_id,
                    SecretVersion.version,
                    SecretVersion.amk_version,
                    SecretVersion.wrapped_dek,
                )
                .where(SecretVersion.amk_version < version, SecretVersion.wrapped_dek.is_not(None))
                .order_by(SecretVersion.id)
                .limit(limit)
            )
        ).all()
        return [
            Wrapped(
                ref=row_id,
                purpose=WrapPurpose.SECRET_DEK,
                context=dek_context(secret_id, number),
                amk_version=amk_version,
                wrapped=wrapped,
            )
            for row_id, secret_id, number, amk_version, wrapped in rows
            if wrapped is not None
        ]

    async def store(self, session: AsyncSession, item: Wrapped, version: int, wrapped: bytes) -> None:
        # Conditional: a version destroyed (or moved) meanwhile keeps its state; a destroyed DEK is
        # never written back.
        await session.execute(
            update(SecretVersion)
            .where(
                SecretVersion.id == item.ref,
                SecretVersion.amk_version == item.amk_version,
                SecretVersion.wrapped_dek.is_not(None),
            )
            .values(wrapped_dek=wrapped, amk_version=version)
            .execution_options(synchronize_session=False)
        )

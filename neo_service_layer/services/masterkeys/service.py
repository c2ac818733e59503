"""Account master keys: created lazily on first use, rotated on demand with every wrapped item rewrapped.

The AMK is sealed by the enclave and stored here; services hand the sealed blob back to the enclave
with each request (docs/enclave.md). Rotation creates version n+1 and rewraps, in batches inside the
enclave, everything each :class:`RewrapSource` holds under an older version — the values themselves
never leave the enclave unwrapped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.enclave.client import EnclaveClient
from neo_service_layer.enclave.opdefs.amk import (
    MAX_REWRAP_ITEMS,
    REWRAP,
    RewrapArgs,
    SealedAmk,
    WrappedItem,
)
from neo_service_layer.enclave.wrapping import WrapPurpose
from neo_service_layer.errors import NSLError
from neo_service_layer.services.masterkeys.models import AccountMasterKey


@dataclass(frozen=True, slots=True)
class Wrapped:
    """One item a service keeps wrapped under an AMK version; ``ref`` lets the source store the result."""

    ref: int
    purpose: WrapPurpose
    context: str
    amk_version: int
    wrapped: bytes


class RewrapSource(Protocol):
    """A table of wrapped items (key versions, secret data keys) that rotation must move."""

    async def older_than(self, session: AsyncSession, version: int, limit: int) -> Sequence[Wrapped]: ...

    async def store(self, session: AsyncSession, item: Wrapped, version: int, wrapped: bytes) -> None: ...


async def latest_amk(session: AsyncSession, enclave: EnclaveClient, account_id: str) -> AccountMasterKey:
    """The account's newest AMK, created (version 1) on first use."""
    latest = (
        await session.execute(select(AccountMasterKey).order_by(AccountMasterKey.version.desc()).limit(1))
    ).scalar_one_or_none()
    if latest is not None:
        return latest
    return await _create(session, enclave, account_id, 1)


async def amk_version(session: AsyncSession, account_id: str, version: int) -> AccountMasterKey:
    """The AMK of ``version``; its absence means the data is damaged, an internal error."""
    amk = (
        await session.execute(
            select(AccountMasterKey).where(
                AccountMasterKey.account_id == account_id, AccountMasterKey.version == version
            )
        )
    ).scalar_one_or_none()
    if amk is None:
        raise NSLError(f"account master key version {version} of {account_id} is missing")
    return amk


async def _create(
    session: AsyncSession, enclave: EnclaveClient, account_id: str, version: int
) -> AccountMasterKey:
    created = await enclave.amk_create(account_id, version)
    amk = AccountMasterKey(account_id=account_id, version=version, sealed=created.sealed)
    try:
        # A savepoint: two requests creating the same version race on the unique constraint; the
        # loser reads the winner's row instead of failing the request.
        async with session.begin_nested():
            session.add(amk)
            await session.flush()
    except IntegrityError:
        return await amk_version(session, account_id, version)
    return amk


async def rotate(
    session: AsyncSession, enclave: EnclaveClient, account_id: str, sources: Sequence[RewrapSource]
) -> tuple[AccountMasterKey, int]:
    """Create the next AMK version and rewrap every item of ``sources``; returns it and the count moved."""
    current = await latest_amk(session, enclave, account_id)
    target = await _create(session, enclave, account_id, current.version + 1)
    # Explicit account filter as well as the session's tenant scope: AMKs are never to be mixed up.
    all_amks = (
        (await session.execute(select(AccountMasterKey).where(AccountMasterKey.account_id == account_id)))
        .scalars()
        .all()
    )
    sealed_sources = [
        SealedAmk(version=a.version, sealed=a.sealed) for a in all_amks if a.version < target.version
    ]
    moved = 0
    for source in sources:
        while batch := await source.older_than(session, target.version, MAX_REWRAP_ITEMS):
            result = await enclave.run(
                REWRAP,
                RewrapArgs(
                    account_id=account_id,
                    sources=sealed_sources,
                    target=SealedAmk(version=target.version, sealed=target.sealed),
                    items=[
                        WrappedItem(
                            purpose=item.purpose,
                            context=item.context,
                            from_version=item.amk_version,
                            wrapped=item.wrapped,
                        )
                        for item in batch
                    ],
                ),
            )
            for item, wrapped in zip(batch, result.wrapped, strict=True):
                await source.store(session, item, target.version, wrapped)
            await session.flush()
            moved += len(batch)
    return target, moved

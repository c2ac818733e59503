"""Feeds are platform data: every tenant session reads them unfiltered, none can write them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.config import PriceFeedSettings
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.session import CrossTenantWrite, Database
from neo_service_layer.services.accounts.service import create_account
from neo_service_layer.services.pricefeed import service
from neo_service_layer.services.pricefeed.models import PriceFeed, PriceRound
from neo_service_layer.services.pricefeed.params import feed_config

SOURCES = [{"name": "binance", "adapter": "binance", "symbol": "NEOUSDT"}]


async def _add(session: AsyncSession) -> None:
    config = feed_config({"pair": "GAS/USD", "sources": SOURCES}, PriceFeedSettings())
    await service.create_feed(session, config, utcnow())


async def _change(session: AsyncSession) -> None:
    feed = (await session.execute(select(PriceFeed))).scalar_one()
    feed.deviation_bps = 1


async def _delete(session: AsyncSession) -> None:
    await session.delete((await session.execute(select(PriceFeed))).scalar_one())


async def _update_statement(session: AsyncSession) -> None:
    await session.execute(update(PriceFeed).values(enabled=False))


async def _delete_statement(session: AsyncSession) -> None:
    await session.execute(delete(PriceRound))


async def _insert_statement(session: AsyncSession) -> None:
    await session.execute(
        insert(PriceRound).values(
            feed_id="pfd_01X",
            round_id=9,
            answer=1,
            observed_at=1,
            reason="x",
            sources=[],
            request={},
            envelope={},
        )
    )


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(_add, id="add"),
        pytest.param(_change, id="change"),
        pytest.param(_delete, id="delete"),
        pytest.param(_update_statement, id="update-statement"),
        pytest.param(_delete_statement, id="delete-statement"),
        pytest.param(_insert_statement, id="insert-statement"),
    ],
)
async def test_a_tenant_session_cannot_write_feeds(
    db: Database, write: Callable[[AsyncSession], Awaitable[None]]
) -> None:
    async with db.transaction() as session:
        tenant = (await create_account(session, "acme")).id
        if write is not _add:
            await _add(session)
    with pytest.raises(CrossTenantWrite):
        async with db.transaction(tenant) as session:
            await write(session)
    async with db.session() as session:
        feeds = list((await session.execute(select(PriceFeed))).scalars())
    assert [(f.pair, f.deviation_bps, f.enabled) for f in feeds] == (
        [] if write is _add else [("GAS/USD", 50, True)]
    )


async def test_every_tenant_reads_the_same_feeds(db: Database) -> None:
    async with db.transaction() as session:
        first = (await create_account(session, "acme")).id
        second = (await create_account(session, "globex")).id
        await _add(session)
    for tenant in (first, second):
        async with db.session(tenant) as session:
            assert (await service.get_feed(session, "GAS/USD")).pair == "GAS/USD"

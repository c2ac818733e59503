"""The price feeds as operators manage them and everyone reads them (docs/pricefeed.md).

Feeds are platform data: these functions run in the operator's unscoped session (writes) or any
account's session (reads; the rows are not tenant-owned, and a tenant session refuses to write them:
``db.session``). Each takes the caller's session and leaves the commit to it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel
from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.config import PriceFeedSettings
from neo_service_layer.ids import IdPrefix, new_id
from neo_service_layer.services.pricefeed.errors import FeedExists, FeedNotFound, PriceRoundNotFound
from neo_service_layer.services.pricefeed.models import PriceFeed, PriceRound, PriceTransmission
from neo_service_layer.services.pricefeed.params import FeedConfig, feed_config

#: The columns an operator sets (``FeedConfig``); the others are the service's own.
CONFIG_COLUMNS = tuple(FeedConfig.__dataclass_fields__)


def stored_config(feed: PriceFeed) -> dict[str, Any]:
    """The stored feed's definition, as :func:`feed_config` takes it (a PATCH is merged over it)."""
    return {column: getattr(feed, column) for column in CONFIG_COLUMNS}


async def create_feed(session: AsyncSession, config: FeedConfig, now: datetime) -> PriceFeed:
    """Add a feed (first poll due at once); :class:`FeedExists` when its pair has one."""
    if await _find(session, config.pair) is not None:
        raise FeedExists(f"a feed for {config.pair} exists already", pair=config.pair)
    feed = PriceFeed(
        id=new_id(IdPrefix.PRICE_FEED), next_poll_at=now, created_at=now, updated_at=now, **config.columns()
    )
    session.add(feed)
    await session.flush()
    return feed


async def update_feed(
    session: AsyncSession, pair: str, changes: Mapping[str, Any], defaults: PriceFeedSettings, now: datetime
) -> PriceFeed:
    """Change a feed: ``changes`` merged over its definition and the whole checked again.

    A change of policy drops the circuit breaker's pending value (it was held against the old bounds)."""
    feed = await get_feed(session, pair)
    config = feed_config({**stored_config(feed), **changes}, defaults)
    for column, value in config.columns().items():
        setattr(feed, column, value)
    feed.pending_answer = feed.pending_observed_at = None
    feed.updated_at = now
    await session.flush()
    return feed


async def delete_feed(session: AsyncSession, pair: str) -> PriceFeed:
    """Remove a feed with its rounds and transmissions (what is on chain stays there)."""
    feed = await get_feed(session, pair)
    for model in (PriceTransmission, PriceRound):
        await session.execute(delete(model).where(model.feed_id == feed.id))
    await session.delete(feed)
    await session.flush()
    return feed


async def _find(session: AsyncSession, pair: str) -> PriceFeed | None:
    return (await session.execute(select(PriceFeed).where(PriceFeed.pair == pair))).scalar_one_or_none()


async def get_feed(session: AsyncSession, pair: str) -> PriceFeed:
    """The feed of ``pair`` (``NEO/USD``); :class:`FeedNotFound` otherwise."""
    feed = await _find(session, pair)
    if feed is None:
        raise FeedNotFound(f"no feed for {pair}", pair=pair)
    return feed


def list_statement() -> Select[PriceFeed]:
    """Every feed (paginated by pair)."""
    return select(PriceFeed)


async def latest_round(session: AsyncSession, feed_id: str) -> PriceRound | None:
    """The feed's newest round, or None before the first."""
    statement = (
        select(PriceRound).where(PriceRound.feed_id == feed_id).order_by(PriceRound.round_id.desc()).limit(1)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def latest_rounds(session: AsyncSession, feed_ids: Iterable[str]) -> dict[str, PriceRound]:
    """The newest round of each of ``feed_ids`` that has one (one query for a page of feeds)."""
    ids = list(feed_ids)
    if not ids:
        return {}
    newest = (
        select(PriceRound.feed_id, func.max(PriceRound.round_id).label("round_id"))
        .where(PriceRound.feed_id.in_(ids))
        .group_by(PriceRound.feed_id)
        .subquery()
    )
    statement = select(PriceRound).join(
        newest, (PriceRound.feed_id == newest.c.feed_id) & (PriceRound.round_id == newest.c.round_id)
    )
    return {row.feed_id: row for row in (await session.execute(statement)).scalars()}


async def get_round(session: AsyncSession, feed: PriceFeed, round_id: int) -> PriceRound:
    """Round ``round_id`` of ``feed``; :class:`PriceRoundNotFound` otherwise."""
    found = await session.get(PriceRound, (feed.id, round_id))
    if found is None:
        raise PriceRoundNotFound(f"{feed.pair} has no round {round_id}", pair=feed.pair, round_id=round_id)
    return found


def rounds_statement(feed_id: str) -> Select[PriceRound]:
    """The feed's rounds (paginated by round id, oldest first)."""
    return select(PriceRound).where(PriceRound.feed_id == feed_id)


async def transmissions(
    session: AsyncSession, feed_id: str, round_ids: Iterable[int]
) -> list[PriceTransmission]:
    """The transmissions of the given rounds of a feed, by round then chain."""
    statement = (
        select(PriceTransmission)
        .where(PriceTransmission.feed_id == feed_id, PriceTransmission.round_id.in_(list(round_ids)))
        .order_by(PriceTransmission.round_id, PriceTransmission.chain)
    )
    return list((await session.execute(statement)).scalars())


#: Names the shipped definitions (``default_feeds.DefaultFeed``) use for the columns' settings.
_ALIASES: Final = {"heartbeat_s": "heartbeat_seconds", "max_quote_age_s": "max_quote_age_seconds"}


def definition_of(feed: object, pair: str | None = None) -> dict[str, Any]:
    """One feed definition as :func:`feed_config` takes it, from a mapping or a dataclass such as
    ``default_feeds.DefaultFeed`` (its ``SourceSpec`` sources dumped, its ``*_s`` names aliased)."""
    if isinstance(feed, Mapping):
        values = dict(feed)
    elif dataclasses.is_dataclass(feed) and not isinstance(feed, type):
        values = {item.name: getattr(feed, item.name) for item in dataclasses.fields(feed)}
    else:
        raise TypeError(f"a feed definition is a mapping or a dataclass, not {type(feed).__name__}")
    values = {_ALIASES.get(key, key): value for key, value in values.items()}
    values["sources"] = [
        source.model_dump() if isinstance(source, BaseModel) else dict(source)
        for source in values.get("sources") or ()
    ]
    if pair is not None:
        values.setdefault("pair", pair)
    return values


def definitions(feeds: Mapping[str, object] | Iterable[object]) -> list[dict[str, Any]]:
    """Feed definitions from either shape: a mapping by pair, or a list of definitions naming their pair."""
    if isinstance(feeds, Mapping):
        return [definition_of(definition, pair) for pair, definition in feeds.items()]
    return [definition_of(definition) for definition in feeds]


async def load_feeds(
    session: AsyncSession,
    feeds: Mapping[str, object] | Iterable[object],
    defaults: PriceFeedSettings,
    now: datetime,
    *,
    enabled: bool | None = None,
) -> list[str]:
    """Create the feeds of ``feeds`` that do not exist yet (by pair); the pairs created.

    Idempotent: a pair that has a feed is left as it is (an operator may have changed it). Every
    definition is checked before any is added. ``enabled`` overrides the definitions' own flag.
    """
    configs = []
    for definition in definitions(feeds):
        if enabled is not None:
            definition["enabled"] = enabled
        configs.append(feed_config(definition, defaults))
    created = []
    for config in configs:
        if await _find(session, config.pair) is None:
            await create_feed(session, config, now)
            created.append(config.pair)
    return created

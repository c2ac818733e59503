"""The price feed's jobs: the tick enqueues one poll per due feed and slot, the poll runs the poller with
the wiring it is given; the default feeds load once, audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from neo_service_layer.config import Settings
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import AuditEntry, Job
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.identity import Identity
from neo_service_layer.services.pricefeed import service
from neo_service_layer.services.pricefeed.defaults import LOAD_ACTION, devnet_feeds, load_default_feeds
from neo_service_layer.services.pricefeed.models import PriceFeed, PriceRound
from neo_service_layer.services.pricefeed.observation import Observer
from neo_service_layer.services.pricefeed.params import feed_config
from neo_service_layer.services.pricefeed.poller import PublisherFactory
from neo_service_layer.worker.context import JobContext, PermanentJobError
from neo_service_layer.worker.pricefeed_jobs import (
    NOT_WIRED,
    PRICEFEED_POLL_KIND,
    PRICEFEED_TICK_KIND,
    enqueue_due_polls,
    poll_key,
    pricefeed_handlers,
    pricefeed_tasks,
)
from tests.services.pricefeed.observations import TARGETS, Chains, SigningObserver
from tests.worker.helpers import job_context

SOURCES = [
    {"name": "binance", "adapter": "binance", "symbol": "NEOUSDT"},
    {"name": "okx", "adapter": "okx", "symbol": "NEO-USDT"},
]


async def add_feed(db: Database, settings: Settings, pair: str, **values: object) -> PriceFeed:
    config = feed_config({"pair": pair, "sources": SOURCES, **values}, settings.pricefeed)
    async with db.transaction() as session:
        return await service.create_feed(session, config, utcnow())


async def poll_jobs(db: Database) -> list[tuple[str, str | None]]:
    async with db.session() as session:
        jobs = (await session.execute(select(Job).where(Job.kind == PRICEFEED_POLL_KIND))).scalars()
        return sorted((job.payload["feed_id"], job.idempotency_key) for job in jobs)


async def test_the_tick_enqueues_one_poll_per_due_feed_and_slot(db: Database, settings: Settings) -> None:
    due = await add_feed(db, settings, "NEO/USD", poll_interval_seconds=30)
    later = await add_feed(db, settings, "GAS/USD")
    await add_feed(db, settings, "BTC/USD", enabled=False)
    async with db.transaction() as session:
        await session.execute(
            update(PriceFeed)
            .where(PriceFeed.id == later.id)
            .values(next_poll_at=utcnow() + timedelta(hours=1))
        )
    now = utcnow()
    assert await enqueue_due_polls(db, settings, now) == [due.id]
    assert await enqueue_due_polls(db, settings, now) == []  # the same slot
    slot = int(now.timestamp()) // 30
    assert await poll_jobs(db) == [(due.id, poll_key(due.id, slot))]
    assert await enqueue_due_polls(db, settings, now + timedelta(seconds=30)) == [due.id]  # the next slot


async def test_an_unwired_worker_enqueues_no_poll_and_refuses_to_run_one(
    db: Database, settings: Settings
) -> None:
    feed = await add_feed(db, settings, "NEO/USD")
    handlers = pricefeed_handlers()
    assert await handlers[PRICEFEED_TICK_KIND](job_context(db, settings, PRICEFEED_TICK_KIND, {})) == {
        "enqueued": []
    }
    assert await poll_jobs(db) == []
    with pytest.raises(PermanentJobError) as refused:
        await handlers[PRICEFEED_POLL_KIND](
            job_context(db, settings, PRICEFEED_POLL_KIND, {"feed_id": feed.id})
        )
    assert refused.value.code == NOT_WIRED


async def test_the_poll_job_runs_the_poller_with_its_wiring(db: Database, settings: Settings) -> None:
    feed = await add_feed(db, settings, "NEO/USD", targets=TARGETS)
    identity = Identity.generate()
    closed: list[bool] = []

    @asynccontextmanager
    async def wiring(ctx: JobContext) -> AsyncIterator[tuple[Observer, PublisherFactory]]:
        chains = Chains(identity.public)
        chains.register(feed)
        yield SigningObserver(identity), chains
        closed.append(True)

    handlers = pricefeed_handlers(wiring)
    tick = await handlers[PRICEFEED_TICK_KIND](job_context(db, settings, PRICEFEED_TICK_KIND, {}))
    assert tick == {"enqueued": [feed.id]}
    result = await handlers[PRICEFEED_POLL_KIND](
        job_context(db, settings, PRICEFEED_POLL_KIND, {"feed_id": feed.id})
    )
    assert result == {
        "pair": "NEO/USD",
        "action": "publish",
        "round_id": 1,
        "finished": 0,
        "outcomes": {"evm:31337": "confirmed", "n3:894710606": "confirmed"},
    }
    assert closed == [True]
    with pytest.raises(PermanentJobError) as refused:
        await handlers[PRICEFEED_POLL_KIND](job_context(db, settings, PRICEFEED_POLL_KIND, {}))
    assert refused.value.code == "invalid_payload"


def test_the_tick_is_scheduled_when_the_service_is_on(tmp_path: Path) -> None:
    (task,) = pricefeed_tasks(Settings(data_dir=tmp_path, pricefeed={"tick_seconds": 2.0}))
    assert (task.kind, task.interval_seconds, task.max_attempts) == (PRICEFEED_TICK_KIND, 2.0, 1)
    assert pricefeed_tasks(Settings(data_dir=tmp_path, pricefeed={"enabled": False})) == []


@dataclass(frozen=True)
class DefaultFeed:
    """The shape of ``default_feeds.DefaultFeed`` (sources as dicts here)."""

    pair: str
    sources: tuple[dict[str, str], ...]
    min_sources: int
    max_spread_bps: int
    decimals: int = 8
    deviation_bps: int = 50
    heartbeat_s: int = 3600


SHIPPED = {
    "NEO/USD": DefaultFeed("NEO/USD", tuple(SOURCES), min_sources=2, max_spread_bps=200),
    "BTC/USD": DefaultFeed(
        "BTC/USD",
        ({"name": "coinbase", "adapter": "coinbase", "symbol": "BTC-USD"},),
        min_sources=1,
        max_spread_bps=100,
        heartbeat_s=600,
    ),
}


@pytest.mark.parametrize("enabled", [False, True])
async def test_default_feeds_load_once_audited(db: Database, settings: Settings, enabled: bool) -> None:
    settings = settings.model_copy(
        update={"pricefeed": settings.pricefeed.model_copy(update={"default_feeds_enabled": enabled})}
    )
    await add_feed(db, settings, "NEO/USD", deviation_bps=10)  # the operator's own, kept as it is

    assert await load_default_feeds(db, settings, "cli:ops", SHIPPED) == ["BTC/USD"]
    assert await load_default_feeds(db, settings, "cli:ops", SHIPPED) == []

    async with db.session() as session:
        feeds = {f.pair: f for f in (await session.execute(select(PriceFeed))).scalars()}
        entries = list(
            (await session.execute(select(AuditEntry).where(AuditEntry.action == LOAD_ACTION))).scalars()
        )
        rounds = list((await session.execute(select(PriceRound))).scalars())
    assert (feeds["NEO/USD"].deviation_bps, feeds["NEO/USD"].enabled) == (10, True)
    btc = feeds["BTC/USD"]
    assert (btc.heartbeat_seconds, btc.max_spread_bps, btc.enabled, btc.targets) == (600, 100, enabled, [])
    assert btc.sources == [
        {
            "name": "coinbase",
            "adapter": "coinbase",
            "symbol": "BTC-USD",
            "base_url": None,
            "url": None,
            "filter": None,
        }
    ]
    assert [(e.actor, e.details) for e in entries] == [
        ("cli:ops", {"pairs": ["BTC/USD"], "enabled": enabled})
    ]
    assert rounds == []


async def test_devnet_feeds_point_at_the_simulator_and_the_devnet_contracts(
    db: Database, settings: Settings
) -> None:
    simulator = "https://127.0.0.1:8443"
    feeds = devnet_feeds(
        dict.fromkeys(("binance", "okx", "coingecko", "coinbase", "kraken"), simulator),
        {"NEO/USD": TARGETS[0]["feed"]},
        TARGETS[1]["contract"],
    )
    assert await load_default_feeds(db, settings, "devnet", feeds, enabled=True) == [
        "NEO/USD",
        "GAS/USD",
        "BTC/USD",
        "ETH/USD",
    ]
    async with db.session() as session:
        stored = {f.pair: f for f in (await session.execute(select(PriceFeed))).scalars()}
    assert stored["NEO/USD"].targets == TARGETS
    assert stored["BTC/USD"].targets == TARGETS[1:]
    assert all(feed.enabled for feed in stored.values())
    assert {source["base_url"] for feed in stored.values() for source in feed.sources} == {simulator}

"""The price feed's jobs: ``pricefeed.tick`` (scheduled) enqueues one ``pricefeed.poll`` per due feed.

The tick runs every ``NSL_PRICEFEED_TICK_SECONDS`` on the scheduler's leader; it looks for enabled feeds
whose ``next_poll_at`` has come and enqueues a poll for each, keyed by the feed and its poll slot
(``pricefeed.poll:<feed id>:<slot>``, the slot being the poll interval's period of the tick's time), so
two ticks of one slot enqueue one poll, and a poll that died is tried again in the next slot. The
poll records ``next_poll_at`` itself when it records its observation (``services.pricefeed.poller``).

What a poll needs beyond the database — the enclave op behind an ``Observer`` and a ``PublisherFactory``
for the chains — comes in as :data:`PollWiring`, built per job from the settings and closed after it;
:func:`enclave_wiring` is the platform's (``pricefeed.observe`` in the enclave, the configured chains).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select

from neo_service_layer.config import Settings
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.services.pricefeed.models import PriceFeed
from neo_service_layer.services.pricefeed.observation import Observer
from neo_service_layer.services.pricefeed.observer import EnclaveObserver
from neo_service_layer.services.pricefeed.poller import FeedPoller, PublisherFactory
from neo_service_layer.services.pricefeed.publishers import ChainPublishers
from neo_service_layer.worker.context import Handler, JobContext, PermanentJobError
from neo_service_layer.worker.queue import ensure_enqueued
from neo_service_layer.worker.scheduler import PeriodicTask

PRICEFEED_TICK_KIND: Final = "pricefeed.tick"
PRICEFEED_POLL_KIND: Final = "pricefeed.poll"
NOT_WIRED: Final = "pricefeed_not_wired"
#: The observer and publisher factory of one poll job, closed when it ends.
type PollWiring = Callable[[JobContext], AbstractAsyncContextManager[tuple[Observer, PublisherFactory]]]


@asynccontextmanager
async def enclave_wiring(ctx: JobContext) -> AsyncIterator[tuple[Observer, PublisherFactory]]:
    """The platform's wiring: the enclave of ``ctx.settings`` observes, the configured chains publish."""
    enclave = UnixEnclaveClient.from_settings(ctx.settings, pool_size=1)
    publishers = ChainPublishers(ctx.settings, ctx.db, enclave)
    try:
        yield EnclaveObserver(enclave), publishers
    finally:
        await publishers.close()
        await enclave.close()


def poll_key(feed_id: str, slot: int) -> str:
    """The idempotency key of a feed's poll in one slot."""
    return f"{PRICEFEED_POLL_KIND}:{feed_id}:{slot}"


async def enqueue_due_polls(db: Database, settings: Settings, now: datetime) -> list[str]:
    """Enqueue a poll of every enabled feed due at ``now``; the ids of the feeds whose poll is new."""
    async with db.session(for_read=True) as session:
        statement = select(PriceFeed.id, PriceFeed.poll_interval_seconds).where(
            PriceFeed.enabled.is_(True), PriceFeed.next_poll_at <= now
        )
        due = list((await session.execute(statement.order_by(PriceFeed.next_poll_at))).all())
    created = []
    for feed_id, interval in due:
        slot = int(now.timestamp()) // interval
        async with db.transaction() as session:
            _job, is_new = await ensure_enqueued(
                session,
                PRICEFEED_POLL_KIND,
                {"feed_id": feed_id},
                run_at=now,
                idempotency_key=poll_key(feed_id, slot),
                max_attempts=1,  # the next slot is the retry (unfinished transmissions go first then)
                settings=settings,
            )
        if is_new:
            created.append(feed_id)
    return created


def tick_handler(wired: bool) -> Handler:
    """The ``pricefeed.tick`` handler; without a poll wiring it enqueues nothing (nothing could run it)."""

    async def tick(ctx: JobContext) -> dict[str, Any]:
        if not wired:
            ctx.log.warning("price feed polls are not wired in this worker: no poll enqueued")
            return {"enqueued": []}
        enqueued = await enqueue_due_polls(ctx.db, ctx.settings, utcnow())
        if enqueued:
            ctx.log.info("price feed polls enqueued", feeds=enqueued)
        return {"enqueued": enqueued}

    return tick


def poll_handler(wiring: PollWiring | None) -> Handler:
    """The ``pricefeed.poll`` handler (payload ``{"feed_id": …}``)."""

    async def poll(ctx: JobContext) -> dict[str, Any]:
        feed_id = ctx.job.payload.get("feed_id")
        if not isinstance(feed_id, str):
            raise PermanentJobError("invalid_payload", "a pricefeed.poll job names its feed_id")
        if wiring is None:
            raise PermanentJobError(NOT_WIRED, "this worker has no observer and publishers for price feeds")
        async with wiring(ctx) as (observer, publishers):
            result = await FeedPoller(ctx.db, observer, publishers).poll(feed_id)
        ctx.log.info(
            "price feed polled",
            pair=result.pair,
            action=result.action,
            round_id=result.round_id,
            finished=result.finished,
            outcomes=result.outcomes,
        )
        return {
            "pair": result.pair,
            "action": result.action,
            "round_id": result.round_id,
            "finished": result.finished,
            "outcomes": result.outcomes,
        }

    return poll


def pricefeed_handlers(wiring: PollWiring | None = None) -> dict[str, Handler]:
    """The tick and poll handlers, by kind."""
    return {PRICEFEED_TICK_KIND: tick_handler(wiring is not None), PRICEFEED_POLL_KIND: poll_handler(wiring)}


def pricefeed_tasks(settings: Settings) -> list[PeriodicTask]:
    """The periodic tick, when the service is enabled."""
    if not settings.pricefeed.enabled:
        return []
    return [
        PeriodicTask(
            name="pricefeed-tick",
            interval_seconds=settings.pricefeed.tick_seconds,
            kind=PRICEFEED_TICK_KIND,
            max_attempts=1,  # the next tick is the retry
        )
    ]

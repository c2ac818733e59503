"""Prometheus metrics of the price feeds, read from the database at scrape time (like the job queue's).

The worker that polls and publishes exposes no metrics of its own, and several workers may share the
feeds: the database is the one place that knows every feed's state, so the API's ``/metrics`` reads it
there (:meth:`PriceFeedCollector.refresh`) and a custom collector exposes the snapshot. Per feed
(``pair``): the latest answer, its age, the sources up in the latest observation, that observation's
deviation from the latest round, and per target chain the rounds published and the publish failures
(counters: counts of settled transmissions, which only grow while the feed exists).

Values are computed with ``Decimal``; they become floats only in the exposition format (Prometheus
samples are float64), never before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.services.pricefeed.models import (
    PriceFeed,
    PriceRound,
    PriceTransmission,
    TransmissionStatus,
)
from neo_service_layer.services.pricefeed.service import latest_rounds

BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class FeedSample:
    """One feed's state at a scrape."""

    pair: str
    answer: Decimal | None  # scaled by the feed's decimals
    age_seconds: int | None
    sources_up: int
    deviation_bps: Decimal | None
    published: Mapping[str, int] = field(default_factory=dict)  # by chain
    failures: Mapping[str, int] = field(default_factory=dict)  # by chain


def sources_up(observation: Mapping[str, Any] | None) -> int:
    """Sources that gave a usable quote in ``observation`` (``ObserveResult``): status ``ok``."""
    return sum(1 for source in (observation or {}).get("sources") or [] if source.get("status") == "ok")


def deviation_bps(observation: Mapping[str, Any] | None, latest: PriceRound | None) -> Decimal | None:
    """|observed - latest answer| in basis points of the latest answer; None without both."""
    observed = (observation or {}).get("answer")
    if latest is None or observed is None or latest.answer == 0:
        return None
    return abs(Decimal(int(observed)) - latest.answer) * BPS / abs(Decimal(latest.answer))


def sample(
    feed: PriceFeed,
    latest: PriceRound | None,
    counts: Mapping[tuple[str, str, TransmissionStatus], int],
    now: datetime,
) -> FeedSample:
    """The sample of one feed from its rows."""
    return FeedSample(
        pair=feed.pair,
        answer=None if latest is None else Decimal(latest.answer).scaleb(-feed.decimals),
        age_seconds=None if latest is None else max(0, int(now.timestamp()) - latest.observed_at),
        sources_up=sources_up(feed.last_observation),
        deviation_bps=deviation_bps(feed.last_observation, latest),
        published={
            c: n for (f, c, s), n in counts.items() if f == feed.id and s is TransmissionStatus.CONFIRMED
        },
        failures={c: n for (f, c, s), n in counts.items() if f == feed.id and s is TransmissionStatus.FAILED},
    )


class PriceFeedCollector(Collector):
    """Exposes the last :meth:`refresh` snapshot (module docstring)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.samples: list[FeedSample] = []
        if registry is not None:
            registry.register(self)

    async def refresh(self, session: AsyncSession, now: datetime) -> None:
        """Read every feed's state (three queries, whatever the number of feeds)."""
        feeds = list((await session.execute(select(PriceFeed).order_by(PriceFeed.pair))).scalars())
        latest = await latest_rounds(session, [feed.id for feed in feeds])
        statement = select(
            PriceTransmission.feed_id, PriceTransmission.chain, PriceTransmission.status, func.count()
        ).group_by(PriceTransmission.feed_id, PriceTransmission.chain, PriceTransmission.status)
        counts = {
            (f, c, TransmissionStatus(s)): int(n) for f, c, s, n in (await session.execute(statement)).all()
        }
        self.samples = [sample(feed, latest.get(feed.id), counts, now) for feed in feeds]

    def describe(self) -> Iterable[Metric]:
        # Families without samples: registering must not run a scrape (no database at registration).
        return list(self._families([]))

    def collect(self) -> Iterable[Metric]:
        return list(self._families(self.samples))

    @staticmethod
    def _families(samples: list[FeedSample]) -> Iterator[Metric]:
        answer = GaugeMetricFamily(
            "nsl_pricefeed_answer", "Latest published answer of the feed", labels=["pair"]
        )
        age = GaugeMetricFamily(
            "nsl_pricefeed_age_seconds", "Seconds since the latest answer was observed", labels=["pair"]
        )
        up = GaugeMetricFamily(
            "nsl_pricefeed_sources_up",
            "Sources with a usable quote in the latest observation",
            labels=["pair"],
        )
        deviation = GaugeMetricFamily(
            "nsl_pricefeed_deviation_bps",
            "Latest observation's deviation from the latest answer, basis points",
            labels=["pair"],
        )
        published = CounterMetricFamily(
            "nsl_pricefeed_rounds_published", "Rounds confirmed on each chain", labels=["pair", "chain"]
        )
        failures = CounterMetricFamily(
            "nsl_pricefeed_publish_failures",
            "Transmissions that failed on each chain",
            labels=["pair", "chain"],
        )
        for item in samples:
            if item.answer is not None and item.age_seconds is not None:
                answer.add_metric([item.pair], float(item.answer))
                age.add_metric([item.pair], item.age_seconds)
            up.add_metric([item.pair], item.sources_up)
            if item.deviation_bps is not None:
                deviation.add_metric([item.pair], float(item.deviation_bps))
            for chain, count in sorted(item.published.items()):
                published.add_metric([item.pair, chain], count)
            for chain, count in sorted(item.failures.items()):
                failures.add_metric([item.pair, chain], count)
        yield from (answer, age, up, deviation, published, failures)

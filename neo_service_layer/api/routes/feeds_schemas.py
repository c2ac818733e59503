"""Request and response bodies of ``/v1/feeds``.

Bodies check JSON types only; the rules (pair, decimals, thresholds, heartbeat vs poll interval,
sources, targets) are checked by ``services.pricefeed.params`` so that each failure has its own
``feed_*`` code. Answers are integers of any size: they travel as decimal strings (``answer``) and
scaled by the feed's decimals (``answer_decimal``, e.g. ``"12.34000000"``), never as JSON numbers.
A round's ``request`` and ``envelope`` are the enclave's signed observation unchanged
(``client.verify_price_round``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from neo_service_layer.api.routes.schemas import StrictBody
from neo_service_layer.enclave.opdefs.pricefeed import MAX_SOURCES
from neo_service_layer.enclave.schemas import SignedResult
from neo_service_layer.services.pricefeed.models import PriceFeed, PriceRound, PriceTransmission
from neo_service_layer.services.pricefeed.observation import feed_config_hash
from neo_service_layer.services.pricefeed.params import MAX_DESCRIPTION_CHARS, MAX_TARGETS, path_of

MAX_TARGET_ITEMS = MAX_TARGETS
# Wide enough that the service's own checks (20 sources, their fields) answer with their codes.
MAX_SOURCE_ITEMS = 4 * MAX_SOURCES


class SourceIn(StrictBody):
    """One source (``SourceSpec``): an adapter and the exchange's market id, or generic url + filter."""

    name: str = Field(max_length=64)
    adapter: str = Field(max_length=32)
    symbol: str | None = Field(default=None, max_length=64)
    base_url: str | None = Field(default=None, max_length=4096)
    url: str | None = Field(default=None, max_length=4096)
    filter: str | None = Field(default=None, max_length=1024)


class FeedFields(StrictBody):
    """What ``POST`` and ``PATCH`` share; a field left out keeps its value (or, on create, the
    operator's default)."""

    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_CHARS)
    decimals: int | None = Field(default=None, strict=True)
    sources: list[SourceIn] | None = Field(default=None, max_length=MAX_SOURCE_ITEMS)
    min_sources: int | None = Field(default=None, strict=True)
    max_quote_age_seconds: int | None = Field(default=None, strict=True)
    outlier_mad_k: str | None = Field(default=None, max_length=32, description='decimal text, e.g. "5"')
    max_spread_bps: int | None = Field(default=None, strict=True)
    deviation_bps: int | None = Field(default=None, strict=True, description="50 = 0.5 %")
    heartbeat_seconds: int | None = Field(default=None, strict=True)
    poll_interval_seconds: int | None = Field(default=None, strict=True)
    breaker_bps: int | None = Field(default=None, strict=True, description="0: no circuit breaker")
    targets: list[dict[str, str]] | None = Field(
        default=None,
        max_length=MAX_TARGET_ITEMS,
        description='[{"chain": "evm", "feed": "0x…"}, {"chain": "n3", "contract": "0x…"}]',
    )
    enabled: bool | None = Field(default=None, strict=True)

    def values(self) -> dict[str, Any]:
        """The fields given, as ``feed_config`` takes them."""
        given = self.model_dump(exclude_unset=True)
        return {key: value for key, value in given.items() if value is not None}


class FeedIn(FeedFields):
    pair: str = Field(max_length=64, description="BASE/QUOTE, upper case: NEO/USD")


class FeedPatch(FeedFields):
    """Any of the feed's settings but its pair."""


def answer_decimal(answer: int, decimals: int) -> str:
    """``answer`` scaled by ``decimals`` as fixed-point text: 1234000000, 8 → ``"12.34000000"``."""
    return f"{Decimal(answer).scaleb(-decimals):f}"


class TransmissionOut(BaseModel):
    chain: str
    target: str
    chain_round_id: int
    status: str
    tx_hash: str | None
    block_number: int | None
    gas_used: int | None
    fee: str | None = Field(description="wei (EVM) or datoshi (N3) actually paid, decimal text")
    detail: str
    updated_at: datetime

    @classmethod
    def of(cls, row: PriceTransmission) -> TransmissionOut:
        return cls(
            chain=row.chain,
            target=row.target,
            chain_round_id=row.chain_round_id,
            status=row.status.value,
            tx_hash=row.tx_hash,
            block_number=row.block_number,
            gas_used=row.gas_used,
            fee=None if row.fee is None else str(row.fee),
            detail=row.detail,
            updated_at=row.updated_at,
        )


class RoundSummary(BaseModel):
    """A round: its answer (integer text and scaled), when the enclave observed it and why it was
    published, each source's report, and where it was sent."""

    pair: str
    round_id: int
    answer: str
    answer_decimal: str
    observed_at: int = Field(description="Unix seconds, the enclave's clock (the round's updatedAt)")
    updated_at: datetime
    reason: str
    sources: list[dict[str, Any]]
    transmissions: list[TransmissionOut] = Field(default_factory=list)

    @classmethod
    def fields_of(cls, feed: PriceFeed, row: PriceRound) -> dict[str, Any]:
        return {
            "pair": feed.pair,
            "round_id": row.round_id,
            "answer": str(row.answer),
            "answer_decimal": answer_decimal(row.answer, feed.decimals),
            "observed_at": row.observed_at,
            "updated_at": datetime.fromtimestamp(row.observed_at, UTC),
            "reason": row.reason,
            "sources": row.sources,
        }

    @classmethod
    def of(cls, feed: PriceFeed, row: PriceRound) -> RoundSummary:
        return cls(**cls.fields_of(feed, row))


class RoundOut(RoundSummary):
    """A round with the enclave's signed observation: ``request`` (``{"op", "account_id", "params"}``)
    and ``envelope`` (the signed result), for ``client.verify_price_round``."""

    request: dict[str, Any]
    envelope: SignedResult

    @classmethod
    def signed(cls, feed: PriceFeed, row: PriceRound, sent: list[PriceTransmission]) -> RoundOut:
        return cls(
            **cls.fields_of(feed, row),
            transmissions=[TransmissionOut.of(item) for item in sent],
            request=row.request,
            envelope=SignedResult.model_validate(row.envelope),
        )


class LatestOut(RoundSummary):
    staleness_seconds: int = Field(description="Seconds since the answer was observed")


class FeedOut(BaseModel):
    """A feed's definition, its latest round (null before the first) and the latest observation."""

    id: str
    pair: str
    path: str = Field(description="The pair as URLs name it: NEO-USD")
    description: str
    decimals: int
    sources: list[dict[str, Any]]
    min_sources: int
    max_quote_age_seconds: int
    outlier_mad_k: str
    max_spread_bps: int
    deviation_bps: int
    heartbeat_seconds: int
    poll_interval_seconds: int
    breaker_bps: int
    targets: list[dict[str, str]]
    config_hash: str = Field(
        description="SHA-256 (hex) of the rules that decide the price: the hash each target's owner must "
        "register (setConfigHash / set_config_hash) for the feed's rounds to be taken"
    )
    enabled: bool
    latest: LatestOut | None = None
    pending_answer: str | None = Field(description="The circuit breaker's unconfirmed answer")
    last_observation: dict[str, Any] | None
    next_poll_at: datetime
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, feed: PriceFeed, latest: PriceRound | None = None, now: datetime | None = None) -> FeedOut:
        out = cls(
            id=feed.id,
            pair=feed.pair,
            path=path_of(feed.pair),
            description=feed.description,
            decimals=feed.decimals,
            sources=feed.sources,
            min_sources=feed.min_sources,
            max_quote_age_seconds=feed.max_quote_age_seconds,
            outlier_mad_k=feed.outlier_mad_k,
            max_spread_bps=feed.max_spread_bps,
            deviation_bps=feed.deviation_bps,
            heartbeat_seconds=feed.heartbeat_seconds,
            poll_interval_seconds=feed.poll_interval_seconds,
            breaker_bps=feed.breaker_bps,
            targets=feed.targets,
            config_hash=feed_config_hash(feed).hex(),
            enabled=feed.enabled,
            pending_answer=None if feed.pending_answer is None else str(feed.pending_answer),
            last_observation=feed.last_observation,
            next_poll_at=feed.next_poll_at,
            created_at=feed.created_at,
            updated_at=feed.updated_at,
        )
        out.with_latest(feed, latest, now or datetime.now(UTC))
        return out

    def with_latest(self, feed: PriceFeed, latest: PriceRound | None, now: datetime) -> FeedOut:
        """Set ``latest`` from the feed's newest round (staleness counted from ``now``)."""
        if latest is not None:
            staleness = max(0, int(now.timestamp()) - latest.observed_at)
            self.latest = LatestOut(**RoundSummary.fields_of(feed, latest), staleness_seconds=staleness)
        return self

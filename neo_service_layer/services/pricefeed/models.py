"""Price feeds, their rounds and each round's transmission to each chain (docs/pricefeed.md).

Platform data (:class:`PlatformOwned`): every account reads the same feeds, only operators and the worker
write them. Prices are integers scaled by the feed's decimals, kept as decimal text
(:class:`IntegerText`: int256 answers exceed any SQL integer); times the enclave signed are Unix seconds,
exactly as signed.

- ``price_feeds``: one row per pair: the aggregation and trigger policy, the sources and the targets,
  the circuit breaker's unconfirmed value (``pending_*``), the latest observation and the next poll;
- ``price_rounds``: every round the service decided to publish, with the enclave's signed observation
  (``request`` + ``envelope``: ``client.verify_price_round`` checks them offline);
- ``price_transmissions``: one per round and target chain, written ``pending`` in the same transaction
  as its round, before anything is sent, then settled with the publisher's outcome.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from neo_service_layer.db.base import (
    Base,
    IntegerText,
    PlatformOwned,
    UTCDateTime,
    enum_column,
    utcnow,
)


class TransmissionStatus(enum.StrEnum):
    """Where a round's transmission to one chain stands (``pending`` until its publisher says how it
    ended: ``chains.pricefeeds.PublishStatus``)."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    SUPERSEDED = "superseded"
    FAILED = "failed"


class PriceFeed(PlatformOwned, Base):
    """One feed: a pair, how its price is made (sources, aggregation, triggers) and where it goes."""

    __tablename__ = "price_feeds"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    pair: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(200))
    decimals: Mapped[int] = mapped_column(Integer)
    #: ``SourceSpec`` dicts (``enclave.opdefs.pricefeed``): name, adapter, symbol, base_url, url, filter.
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    min_sources: Mapped[int] = mapped_column(Integer)
    max_quote_age_seconds: Mapped[int] = mapped_column(Integer)
    #: Decimal text (``"5"``): the outlier bound in median absolute deviations; never a float.
    outlier_mad_k: Mapped[str] = mapped_column(String(32))
    max_spread_bps: Mapped[int] = mapped_column(Integer)
    deviation_bps: Mapped[int] = mapped_column(Integer)
    heartbeat_seconds: Mapped[int] = mapped_column(Integer)
    poll_interval_seconds: Mapped[int] = mapped_column(Integer)
    breaker_bps: Mapped[int] = mapped_column(Integer)
    #: ``[{"chain": "evm", "feed": "0x…"}, {"chain": "n3", "contract": "0x…"}]``.
    targets: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean)
    #: The circuit breaker's unconfirmed answer and when it was observed (both set or both null).
    pending_answer: Mapped[int | None] = mapped_column(IntegerText, nullable=True)
    pending_observed_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: The latest ``pricefeed.observe`` result (per-source values), whatever it decided.
    last_observation: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    next_poll_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PriceRound(PlatformOwned, Base):
    """A published round: the answer, when the enclave observed it, why, each source's part, and the
    enclave's signature over the whole observation (``request`` is the signed request
    ``{"op", "account_id", "params"}``, ``envelope`` the signed result)."""

    __tablename__ = "price_rounds"

    feed_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("price_feeds.id", ondelete="CASCADE"), primary_key=True
    )
    round_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    answer: Mapped[int] = mapped_column(IntegerText)
    observed_at: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(32))
    sources: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    envelope: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PriceTransmission(PlatformOwned, Base):
    """A round sent to one chain: the report as the enclave signed it for that chain's contract
    (``chain_round_id``, ``signature``), so a retry re-sends exactly it, and how it ended."""

    __tablename__ = "price_transmissions"

    feed_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("price_feeds.id", ondelete="CASCADE"), primary_key=True
    )
    round_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    #: ``"evm:<chain id>"`` or ``"n3:<network magic>"`` (``PricePublisher.chain``).
    chain: Mapped[str] = mapped_column(String(64), primary_key=True)
    target: Mapped[str] = mapped_column(String(66))
    chain_round_id: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[TransmissionStatus] = mapped_column(enum_column(TransmissionStatus, 16), index=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    gas_used: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    fee: Mapped[int | None] = mapped_column(IntegerText, nullable=True)
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

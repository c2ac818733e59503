"""One poll of one price feed: observe in the enclave, record, then publish (docs/pricefeed.md).

A poll, in this order:

1. finish the transmissions an earlier poll recorded but did not settle (a killed worker, a chain that
   was down): each is sent again exactly as signed — publishers are idempotent and resume the
   transaction they recorded — so a crash leaves neither a duplicate round nor a gap;
2. read each target's latest round; ``last`` (what the enclave decides against) is the *oldest* of the
   database's last round and the targets' latest, so a target that missed a round is caught up (a
   target with no round at all makes it ``None``: publish);
3. ``pricefeed.observe`` in the enclave (:class:`Observer`) with each target's next round id;
4. in ONE transaction: the observation, the circuit breaker's pending value (set on
   ``breaker_pending``, cleared otherwise), the next poll time and — when the enclave says
   ``publish`` — the round (its id the database's last + 1) with its sources and signed envelope and
   one ``pending`` transmission per target. If another poll recorded a round or left a transmission
   unsettled since step 1, nothing is recorded (the observation was made against a stale ``last``);
5. only then publish each transmission and record its outcome (a publisher that raises — a chain down,
   a fee over budget, a paused feed — leaves its transmission pending for the next poll). A round
   observed under rules whose hash is not the one the target registered (``PricePublisher.config_hash``)
   is not sent: it is failed with :data:`FEED_CONFIG_NOT_REGISTERED` (the contract would refuse it; the
   detail names the hash to register), so a host that rewrote a feed's definition gets no round on chain.

Dependencies come in as Protocols: the enclave op behind an ``Observer`` (``observation.py``: the
args, ``last`` and the check of what comes back), the chains behind :class:`PublisherFactory`
(``chains.pricefeeds.PricePublisher`` per target).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.chains.fulfilments import FulfilmentPending
from neo_service_layer.chains.pricefeeds import (
    ChainRound,
    PricePublisher,
    PublishOutcome,
    PublishStatus,
    SignedReport,
)
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.session import Database
from neo_service_layer.logging import get_logger
from neo_service_layer.services.pricefeed.models import (
    PriceFeed,
    PriceRound,
    PriceTransmission,
    TransmissionStatus,
)
from neo_service_layer.services.pricefeed.observation import (
    BREAKER_PENDING,
    PUBLISH,
    Observation,
    ObservationMismatch,
    Observer,
    check_observation,
    observe_args,
    oldest_last,
    target_arg,
)
from neo_service_layer.services.pricefeed.params import FeedTarget, parse_target
from neo_service_layer.services.pricefeed.service import latest_round

log = get_logger("pricefeed.poller")
PENDING: Final = TransmissionStatus.PENDING.value
#: ``TransmissionStatus`` of each ``PublishStatus``.
SETTLED: Final[Mapping[PublishStatus, TransmissionStatus]] = {
    PublishStatus.CONFIRMED: TransmissionStatus.CONFIRMED,
    PublishStatus.SUPERSEDED: TransmissionStatus.SUPERSEDED,
    PublishStatus.FAILED: TransmissionStatus.FAILED,
}
MAX_DETAIL_CHARS: Final = 2000
#: The stable reason (a failed transmission's detail's first word) of a round whose rules' hash is not
#: the one its target has registered: the operator registers it (``nsl feeds config-hash``) or the feed's
#: definition was rewritten behind the owner's back; nothing is sent either way.
FEED_CONFIG_NOT_REGISTERED: Final = "feed_config_not_registered"
Clock = Callable[[], datetime]


class PublisherFactory(Protocol):
    """The publisher of one feed on one target (the chain helpers' ``PricePublisher``)."""

    async def publisher(self, pair: str, target: FeedTarget) -> PricePublisher: ...


@dataclass(slots=True)
class PollResult:
    """How a poll went: the enclave's action (or ``disabled`` / ``raced``), the round recorded, the
    earlier transmissions finished, and each chain's outcome of this poll's round."""

    pair: str
    action: str
    round_id: int | None = None
    finished: int = 0
    outcomes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Target:
    target: FeedTarget
    publisher: PricePublisher

    @property
    def chain(self) -> str:
        return self.publisher.chain


class FeedPoller:
    """Polls feeds (module docstring). One per worker; holds no connection."""

    def __init__(
        self, db: Database, observer: Observer, publishers: PublisherFactory, *, clock: Clock = utcnow
    ) -> None:
        self._db = db
        self._observer = observer
        self._publishers = publishers
        self._clock = clock

    async def poll(self, feed_id: str) -> PollResult:
        """Poll the feed ``feed_id`` once (a disabled or deleted feed: nothing)."""
        async with self._db.session(for_read=True) as session:
            feed = await session.get(PriceFeed, feed_id)
            db_round = await latest_round(session, feed_id) if feed is not None else None
        if feed is None or not feed.enabled:
            return PollResult(pair="" if feed is None else feed.pair, action="disabled")
        targets, complete = await self._targets(feed)
        result = PollResult(pair=feed.pair, action="")
        result.finished, unsettled = await self._finish_pending(feed, targets, complete)
        reachable: list[tuple[_Target, ChainRound | None]] = []
        for target in targets:
            if target.chain in unsettled:
                # Its earlier round is still unsettled: a new one would take the same round id there.
                continue
            try:
                reachable.append((target, await target.publisher.latest()))
            except Exception:
                # One chain down must not stop the others; its round is caught up once it is back.
                log.exception("price feed target unreachable", pair=feed.pair, chain=target.chain)
        if feed.targets and not reachable:
            raise ConnectionError(f"no target of {feed.pair} can take a round now")
        last = oldest_last(db_round, [chain_round for _, chain_round in reachable])
        args_targets = [
            target_arg(target.chain, target.target, 1 if chain_round is None else chain_round.round_id + 1)
            for target, chain_round in reachable
        ]
        observation = await self._observer.observe(observe_args(feed, last, args_targets))
        check_observation(observation.result, feed, args_targets)
        result.action = str(observation.result["action"])
        chains = {target.chain for target, _ in reachable}
        recorded = await self._record(feed, db_round, observation, chains)
        if recorded is None:
            result.action = "raced"
            return result
        result.round_id = recorded
        if recorded:
            rows = [(row, observation.result) for row in await self._pending(feed.id, recorded)]
            sent = await self._send(feed.pair, [target for target, _ in reachable], rows)
            result.outcomes = dict(sent)
        return result

    async def _targets(self, feed: PriceFeed) -> tuple[list[_Target], bool]:
        """The targets whose publisher could be made, and whether that is all of them (a chain not
        configured here, or whose node does not answer, is left out of this poll)."""
        targets = []
        for stored in feed.targets:
            target = parse_target(stored)
            try:
                targets.append(_Target(target, await self._publishers.publisher(feed.pair, target)))
            except Exception:
                log.exception("no publisher for a price feed target", pair=feed.pair, target=target.address)
        chains = [target.chain for target in targets]
        if len(set(chains)) != len(chains):
            raise ObservationMismatch(f"{feed.pair} has two targets on one chain: {sorted(chains)}")
        return targets, len(targets) == len(feed.targets)

    async def _pending(self, feed_id: str, round_id: int | None = None) -> list[PriceTransmission]:
        statement = select(PriceTransmission).where(
            PriceTransmission.feed_id == feed_id, PriceTransmission.status == TransmissionStatus.PENDING
        )
        if round_id is not None:
            statement = statement.where(PriceTransmission.round_id == round_id)
        async with self._db.session(for_read=True) as session:
            rows = (await session.execute(statement.order_by(PriceTransmission.round_id))).scalars()
            return list(rows)

    async def _finish_pending(
        self, feed: PriceFeed, targets: Sequence[_Target], complete: bool
    ) -> tuple[int, set[str]]:
        """Send again what earlier polls recorded and did not settle, oldest round first: how many were
        settled, and the chains left with an unsettled one (their publisher failed to answer, or could
        not be made). A chain that is no target of the feed any more (``complete``: every target's
        publisher is known) has its transmissions failed."""
        rows = await self._pending(feed.id)
        if not rows:
            return 0, set()
        async with self._db.session(for_read=True) as session:
            rounds = {
                row.round_id: row
                for row in (
                    await session.execute(
                        select(PriceRound).where(
                            PriceRound.feed_id == feed.id, PriceRound.round_id.in_({r.round_id for r in rows})
                        )
                    )
                ).scalars()
            }
        signed = [(row, _signed(rounds[row.round_id])) for row in rows]
        sent = await self._send(feed.pair, targets, signed, complete=complete)
        unsettled = {chain for chain, status in sent if status == PENDING}
        return len(sent) - sum(status == PENDING for _, status in sent), unsettled

    async def _send(
        self,
        pair: str,
        targets: Sequence[_Target],
        rows: Sequence[tuple[PriceTransmission, Mapping[str, Any]]],
        *,
        complete: bool = True,
    ) -> list[tuple[str, str]]:
        """Publish ``rows`` in their order, each with what was signed for it (its round's observation):
        each chain's outcome of each row tried, ``pending`` where it is left for the next poll. Unless
        ``complete`` (every target's publisher is known) a chain with no publisher is left pending
        rather than failed."""
        by_chain = {target.chain: target for target in targets}
        sent: list[tuple[str, str]] = []
        for row, signed in rows:
            if (row.chain, PENDING) in sent:
                continue  # never a later round of a chain before its earlier one
            if row.chain not in by_chain and not complete:
                sent.append((row.chain, PENDING))  # perhaps the target whose publisher is missing this time
                continue
            try:
                outcome = await self._publish(by_chain.get(row.chain), row, signed)
            except Exception as error:
                # Left pending: the next poll sends it again first. The other chains go on.
                _not_finished(pair, row.chain, error)
                sent.append((row.chain, PENDING))
                continue
            sent.append((row.chain, outcome.status.value))
        return sent

    async def _publish(
        self, target: _Target | None, row: PriceTransmission, signed: Mapping[str, Any]
    ) -> PublishOutcome:
        """Send one transmission exactly as recorded and settle its row with the outcome."""
        if target is None:
            outcome = PublishOutcome(
                PublishStatus.FAILED, None, None, None, None, f"{row.chain} is no longer a target of the feed"
            )
        else:
            outcome = await self._unregistered(target, signed) or await target.publisher.publish(
                SignedReport(
                    row.chain_round_id, int(signed["answer"]), int(signed["observed_at"]), row.signature
                )
            )
        async with self._db.transaction() as session:
            await session.execute(
                update(PriceTransmission)
                .where(
                    PriceTransmission.feed_id == row.feed_id,
                    PriceTransmission.round_id == row.round_id,
                    PriceTransmission.chain == row.chain,
                    PriceTransmission.status == TransmissionStatus.PENDING,
                )
                .values(
                    status=SETTLED[outcome.status],
                    tx_hash=outcome.tx_hash,
                    block_number=outcome.block_number,
                    gas_used=outcome.gas_used,
                    fee=outcome.fee,
                    detail=outcome.detail[:MAX_DETAIL_CHARS],
                    updated_at=self._clock(),
                )
            )
        log.info(
            "price round transmitted",
            feed_id=row.feed_id,
            round_id=row.round_id,
            chain=row.chain,
            status=outcome.status.value,
            tx_hash=outcome.tx_hash,
        )
        return outcome

    @staticmethod
    async def _unregistered(target: _Target, signed: Mapping[str, Any]) -> PublishOutcome | None:
        """A failed outcome when the round's rules are not the ones ``target`` registered (the contract
        would refuse the report): the transmission is not sent."""
        observed = str(signed.get("config_hash") or "")
        registered = await target.publisher.config_hash()
        if registered is not None and registered.hex() == observed:
            return None
        chain_has = "none" if registered is None else f"0x{registered.hex()}"
        detail = (
            f"{FEED_CONFIG_NOT_REGISTERED}: the round was observed under config hash 0x{observed}, "
            f"which {target.chain} ({target.target.address}) has not registered (it has {chain_has}); "
            "if the feed's rules are the intended ones, its owner registers that hash"
        )
        log.warning("price round not sent: config hash not registered", chain=target.chain, detail=detail)
        return PublishOutcome(PublishStatus.FAILED, None, None, None, None, detail)

    async def _record(
        self, feed: PriceFeed, seen: PriceRound | None, observation: Observation, chains: set[str]
    ) -> int | None:
        """Step 4 (module docstring): the new round's id, 0 when none, None when another poll got there
        first."""
        result, now = observation.result, self._clock()
        try:
            async with self._db.transaction() as session:
                current = await self._lock(session, feed.id)
                newest = await latest_round(session, feed.id)
                if current is None or (newest and newest.round_id) != (seen and seen.round_id):
                    return None
                if await self._has_pending(session, feed.id, chains):
                    return None
                current.last_observation = result
                breaker = result["action"] == BREAKER_PENDING
                current.pending_answer = int(result["answer"]) if breaker else None
                current.pending_observed_at = int(result["observed_at"]) if breaker else None
                current.next_poll_at = now + timedelta(seconds=current.poll_interval_seconds)
                current.updated_at = now
                if result["action"] != PUBLISH:
                    return 0
                round_id = (newest.round_id if newest else 0) + 1
                session.add(self._round(feed.id, round_id, observation, now))
                for report in result["reports"]:
                    session.add(self._transmission(feed.id, round_id, report, now))
                await session.flush()
                return round_id
        except IntegrityError:
            # The same round id committed by a concurrent poll between our read and our insert.
            return None

    @staticmethod
    async def _lock(session: AsyncSession, feed_id: str) -> PriceFeed | None:
        # FOR UPDATE serializes two polls of one feed on PostgreSQL; SQLite's BEGIN IMMEDIATE already has.
        statement = select(PriceFeed).where(PriceFeed.id == feed_id).with_for_update()
        return (await session.execute(statement)).scalar_one_or_none()

    @staticmethod
    async def _has_pending(session: AsyncSession, feed_id: str, chains: set[str]) -> bool:
        statement = select(PriceTransmission.round_id).where(
            PriceTransmission.feed_id == feed_id,
            PriceTransmission.status == TransmissionStatus.PENDING,
            PriceTransmission.chain.in_(chains),
        )
        return (await session.execute(statement.limit(1))).first() is not None

    @staticmethod
    def _round(feed_id: str, round_id: int, observation: Observation, now: datetime) -> PriceRound:
        result = observation.result
        return PriceRound(
            feed_id=feed_id,
            round_id=round_id,
            answer=int(result["answer"]),
            observed_at=int(result["observed_at"]),
            reason=str(result["reason"]),
            sources=result["sources"],
            request=observation.request,
            envelope=observation.envelope,
            created_at=now,
        )

    @staticmethod
    def _transmission(
        feed_id: str, round_id: int, report: Mapping[str, Any], now: datetime
    ) -> PriceTransmission:
        family = report["kind"]
        number = report["chain_id"] if family == "evm" else report["network_magic"]
        return PriceTransmission(
            feed_id=feed_id,
            round_id=round_id,
            chain=f"{family}:{number}",
            target=str(report["feed"]).lower(),
            chain_round_id=int(report["round_id"]),
            signature=bytes.fromhex(str(report["signature"]).removeprefix("0x")),
            status=TransmissionStatus.PENDING,
            detail="",
            created_at=now,
            updated_at=now,
        )


def _not_finished(pair: str, chain: str, error: Exception) -> None:
    """Log a transmission left pending: a wait the chain asked for (paused, its clock behind the
    observation, not mined yet) is ordinary and needs no traceback; anything else is an error."""
    if isinstance(error, FulfilmentPending):
        log.info(
            "price round transmission waits", pair=pair, chain=chain, reason=error.code, detail=str(error)
        )
    else:
        log.error("price round transmission not finished", pair=pair, chain=chain, exc_info=error)


def _signed(recorded: PriceRound) -> dict[str, Any]:
    """What the enclave signed for a recorded round, as its observation has it."""
    return {
        "answer": recorded.answer,
        "observed_at": recorded.observed_at,
        "config_hash": recorded.envelope.get("result", {}).get("config_hash"),
    }

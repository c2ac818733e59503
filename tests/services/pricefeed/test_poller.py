"""The poller's database logic on SQLite and PostgreSQL: rounds recorded before they are sent, round ids
strictly increasing, no double round when a poll runs twice, the breaker's pending value, unfinished
transmissions finished first, a target that missed a round caught up."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from neo_service_layer.config import PriceFeedSettings
from neo_service_layer.db.session import Database
from neo_service_layer.enclave.identity import Identity
from neo_service_layer.services.pricefeed import service
from neo_service_layer.services.pricefeed.models import PriceFeed, PriceRound, PriceTransmission
from neo_service_layer.services.pricefeed.observation import (
    Observation,
    ObservationMismatch,
    feed_config_hash,
)
from neo_service_layer.services.pricefeed.params import feed_config
from neo_service_layer.services.pricefeed.poller import FEED_CONFIG_NOT_REGISTERED, FeedPoller
from tests.services.pricefeed.observations import (
    EVM_CHAIN,
    N3_CHAIN,
    TARGETS,
    Chains,
    SigningObserver,
)

NOW = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
SOURCES = [
    {"name": "binance", "adapter": "binance", "symbol": "NEOUSDT"},
    {"name": "okx", "adapter": "okx", "symbol": "NEO-USDT"},
    {"name": "kraken", "adapter": "kraken", "symbol": "NEOUSD"},
]


async def make_feed(db: Database, chains: Chains | None = None, **overrides: object) -> PriceFeed:
    """A feed of NEO/USD, its config hash registered on ``chains`` when given (as its owner does)."""
    values = {"pair": "NEO/USD", "sources": SOURCES, "targets": TARGETS, **overrides}
    async with db.transaction() as session:
        feed = await service.create_feed(session, feed_config(values, PriceFeedSettings()), NOW)
    if chains is not None:
        chains.register(feed)
    return feed


@pytest.fixture
def identity() -> Identity:
    return Identity.generate()


@pytest.fixture
def observer(identity: Identity) -> SigningObserver:
    return SigningObserver(identity)


@pytest.fixture
def chains(identity: Identity) -> Chains:
    return Chains(identity.public)


@pytest.fixture
def poller(db: Database, observer: SigningObserver, chains: Chains) -> FeedPoller:
    return FeedPoller(db, observer, chains, clock=lambda: NOW)


async def rounds_of(db: Database, feed_id: str) -> list[PriceRound]:
    async with db.session() as session:
        statement = select(PriceRound).where(PriceRound.feed_id == feed_id).order_by(PriceRound.round_id)
        return list((await session.execute(statement)).scalars())


async def transmissions_of(db: Database, feed_id: str) -> list[tuple[int, str, int, str]]:
    async with db.session() as session:
        statement = select(PriceTransmission).where(PriceTransmission.feed_id == feed_id)
        rows = (
            await session.execute(statement.order_by(PriceTransmission.round_id, PriceTransmission.chain))
        ).scalars()
        return [(r.round_id, r.chain, r.chain_round_id, r.status.value) for r in rows]


async def reload(db: Database, feed_id: str) -> PriceFeed:
    async with db.session() as session:
        feed = await session.get(PriceFeed, feed_id)
    assert feed is not None
    return feed


async def test_first_poll_records_the_round_then_publishes_it_on_every_target(
    db: Database, poller: FeedPoller, observer: SigningObserver, chains: Chains
) -> None:
    feed = await make_feed(db, chains)
    result = await poller.poll(feed.id)

    assert (result.action, result.round_id, result.outcomes) == (
        "publish",
        1,
        {EVM_CHAIN: "confirmed", N3_CHAIN: "confirmed"},
    )
    (args,) = observer.calls
    assert args["last"] is None
    assert args["pending"] is None
    assert [(t["kind"], t["round_id"]) for t in args["targets"]] == [("evm", 1), ("n3", 1)]
    assert args["targets"][0]["chain_id"] == 31337
    assert args["targets"][1]["network_magic"] == 894710606
    (recorded,) = await rounds_of(db, feed.id)
    assert (recorded.round_id, recorded.answer, recorded.reason) == (1, 1_234_000_000, "first")
    assert recorded.envelope["result"]["answer"] == 1_234_000_000
    assert recorded.request["params"] == args
    assert await transmissions_of(db, feed.id) == [
        (1, EVM_CHAIN, 1, "confirmed"),
        (1, N3_CHAIN, 1, "confirmed"),
    ]
    assert chains.by_kind["evm"].rounds == [(1, 1_234_000_000, observer.observed_at)]
    assert chains.by_kind["n3"].rounds == [(1, 1_234_000_000, observer.observed_at)]
    stored = await reload(db, feed.id)
    assert stored.last_observation is not None
    assert stored.last_observation["action"] == "publish"
    assert stored.next_poll_at == NOW.replace(second=30)


async def test_round_ids_strictly_increase_with_every_published_round(
    db: Database, poller: FeedPoller, observer: SigningObserver, chains: Chains
) -> None:
    feed = await make_feed(db, chains)
    answers = [1_234_000_000, 1_300_000_000, 1_300_000_000, 1_250_000_000]
    actions = ["publish", "publish", "unchanged", "publish"]
    for answer, action in zip(answers, actions, strict=True):
        observer.script(action, "deviation" if action == "publish" else "within_threshold", answer)
        await poller.poll(feed.id)

    rounds = await rounds_of(db, feed.id)
    assert [(r.round_id, r.answer) for r in rounds] == [
        (1, 1_234_000_000),
        (2, 1_300_000_000),
        (3, 1_250_000_000),
    ]
    assert [r[0] for r in chains.by_kind["evm"].rounds] == [1, 2, 3]
    # Each poll's last is the previous round; each target asked for its latest + 1.
    assert [call["last"] and call["last"]["answer"] for call in observer.calls] == [
        None,
        1_234_000_000,
        1_300_000_000,
        1_300_000_000,
    ]
    assert [call["targets"][0]["round_id"] for call in observer.calls] == [1, 2, 3, 3]


async def test_the_same_poll_run_twice_at_once_records_one_round(
    db: Database, poller: FeedPoller, chains: Chains
) -> None:
    feed = await make_feed(db, chains)
    results = await asyncio.gather(poller.poll(feed.id), poller.poll(feed.id))

    assert sorted(r.action for r in results) == ["publish", "raced"]
    assert [r.round_id for r in await rounds_of(db, feed.id)] == [1]
    assert [r[0] for r in chains.by_kind["evm"].rounds] == [1]
    assert len(await transmissions_of(db, feed.id)) == 2


async def test_a_poll_run_again_after_it_finished_publishes_no_second_round(
    db: Database, poller: FeedPoller, observer: SigningObserver, chains: Chains
) -> None:
    feed = await make_feed(db, chains)
    await poller.poll(feed.id)
    observer.script("unchanged", "within_threshold", observer.answer)
    again = await poller.poll(feed.id)

    assert (again.action, again.round_id, again.finished) == ("unchanged", 0, 0)
    assert [r.round_id for r in await rounds_of(db, feed.id)] == [1]
    assert len(chains.by_kind["n3"].published) == 1


async def test_a_breaker_pending_value_is_stored_sent_back_and_cleared(
    db: Database, poller: FeedPoller, observer: SigningObserver, chains: Chains
) -> None:
    feed = await make_feed(db, chains)
    await poller.poll(feed.id)
    observer.script("breaker_pending", "breaker_tripped", 2_500_000_000)
    await poller.poll(feed.id)
    stored = await reload(db, feed.id)
    assert (stored.pending_answer, stored.pending_observed_at) == (2_500_000_000, observer.observed_at)
    assert [r.round_id for r in await rounds_of(db, feed.id)] == [1]

    pending_at = observer.observed_at
    observer.script("publish", "breaker_confirmed", 2_510_000_000)
    result = await poller.poll(feed.id)
    assert observer.calls[-1]["pending"] == {"answer": 2_500_000_000, "observed_at": pending_at}
    assert result.round_id == 2
    stored = await reload(db, feed.id)
    assert (stored.pending_answer, stored.pending_observed_at) == (None, None)


@pytest.mark.parametrize("action", ["unchanged", "insufficient_sources"])
async def test_any_other_decision_clears_the_pending_value(
    db: Database, poller: FeedPoller, observer: SigningObserver, action: str, chains: Chains
) -> None:
    feed = await make_feed(db, chains)
    observer.script("breaker_pending", "breaker_tripped", 2_500_000_000)
    await poller.poll(feed.id)
    assert (await reload(db, feed.id)).pending_answer == 2_500_000_000
    observer.script(action, "within_threshold", 1_234_000_000)
    await poller.poll(feed.id)
    assert (await reload(db, feed.id)).pending_answer is None


async def test_unfinished_transmissions_are_finished_before_the_next_observation(
    db: Database, poller: FeedPoller, observer: SigningObserver, chains: Chains
) -> None:
    feed = await make_feed(db, chains)
    n3 = chains.by_kind["n3"]
    n3.fail_publishes = 1  # the connection to N3 drops while round 1 is sent
    first = await poller.poll(feed.id)
    assert first.outcomes == {EVM_CHAIN: "confirmed", N3_CHAIN: "pending"}
    assert await transmissions_of(db, feed.id) == [
        (1, EVM_CHAIN, 1, "confirmed"),
        (1, N3_CHAIN, 1, "pending"),
    ]
    assert n3.rounds == []

    observer.script("unchanged", "within_threshold", observer.answer)
    result = await poller.poll(feed.id)

    assert result.finished == 1
    assert n3.rounds == [(1, 1_234_000_000, observer.observed_at - 30)]
    # The observation came after: N3 was asked for its round 2, and both chains agree on last.
    assert [t["round_id"] for t in observer.calls[-1]["targets"]] == [2, 2]
    assert await transmissions_of(db, feed.id) == [
        (1, EVM_CHAIN, 1, "confirmed"),
        (1, N3_CHAIN, 1, "confirmed"),
    ]
    assert [r.round_id for r in await rounds_of(db, feed.id)] == [1]
    # The resent report is the one recorded: same chain round, answer, time and signature.
    assert n3.published[0] == n3.published[1]


async def test_a_worker_killed_while_publishing_leaves_no_duplicate_and_no_gap(
    db: Database, poller: FeedPoller, observer: SigningObserver, chains: Chains
) -> None:
    feed = await make_feed(db, chains)
    await poller.poll(feed.id)
    evm, n3 = chains.by_kind["evm"], chains.by_kind["n3"]
    evm.kill_publishes = 1
    observer.script("publish", "deviation", 1_400_000_000)
    with pytest.raises(asyncio.CancelledError):
        await poller.poll(feed.id)  # round 2 recorded, then the worker dies sending it
    assert await transmissions_of(db, feed.id) == [
        (1, EVM_CHAIN, 1, "confirmed"),
        (1, N3_CHAIN, 1, "confirmed"),
        (2, EVM_CHAIN, 2, "pending"),
        (2, N3_CHAIN, 2, "pending"),
    ]

    observer.script("publish", "deviation", 1_500_000_000)
    result = await poller.poll(feed.id)  # the next poll: round 2 first, then round 3

    assert (result.finished, result.round_id) == (2, 3)
    assert [r[:2] for r in evm.rounds] == [(1, 1_234_000_000), (2, 1_400_000_000), (3, 1_500_000_000)]
    assert [r[:2] for r in n3.rounds] == [(1, 1_234_000_000), (2, 1_400_000_000), (3, 1_500_000_000)]
    assert [r.round_id for r in await rounds_of(db, feed.id)] == [1, 2, 3]
    assert all(status == "confirmed" for *_, status in await transmissions_of(db, feed.id))


async def test_a_target_still_down_is_left_out_and_the_others_go_on(
    db: Database, poller: FeedPoller, observer: SigningObserver, chains: Chains
) -> None:
    feed = await make_feed(db, chains)
    n3 = chains.by_kind["n3"]
    n3.fail_publishes = 2
    await poller.poll(feed.id)
    observer.script("publish", "deviation", 1_400_000_000)
    result = await poller.poll(feed.id)  # N3's round 1 still fails: the new round goes to EVM only

    assert (result.round_id, result.outcomes) == (2, {EVM_CHAIN: "confirmed"})
    assert [t["kind"] for t in observer.calls[-1]["targets"]] == ["evm"]
    assert await transmissions_of(db, feed.id) == [
        (1, EVM_CHAIN, 1, "confirmed"),
        (1, N3_CHAIN, 1, "pending"),
        (2, EVM_CHAIN, 2, "confirmed"),
    ]


async def test_a_target_without_a_publisher_is_left_out_until_it_has_one(
    db: Database, poller: FeedPoller, observer: SigningObserver, chains: Chains
) -> None:
    feed = await make_feed(db, chains)
    chains.unconfigured.add("n3")
    first = await poller.poll(feed.id)
    assert first.outcomes == {EVM_CHAIN: "confirmed"}
    chains.unconfigured.clear()
    observer.script("publish", "first", observer.answer)
    await poller.poll(feed.id)
    # N3 has no round: last is None (publish), and N3 is asked for its round 1.
    assert observer.calls[-1]["last"] is None
    assert [(t["kind"], t["round_id"]) for t in observer.calls[-1]["targets"]] == [("evm", 2), ("n3", 1)]


async def test_a_pending_transmission_to_a_removed_target_fails(
    db: Database, poller: FeedPoller, observer: SigningObserver, chains: Chains
) -> None:
    feed = await make_feed(db, chains)
    chains.by_kind["n3"].fail_publishes = 1
    await poller.poll(feed.id)
    async with db.transaction() as session:
        await service.update_feed(session, "NEO/USD", {"targets": TARGETS[:1]}, PriceFeedSettings(), NOW)
    observer.script("unchanged", "within_threshold", observer.answer)
    assert (await poller.poll(feed.id)).finished == 1
    assert await transmissions_of(db, feed.id) == [(1, EVM_CHAIN, 1, "confirmed"), (1, N3_CHAIN, 1, "failed")]


async def test_a_target_that_missed_a_round_makes_last_the_oldest(
    db: Database, poller: FeedPoller, observer: SigningObserver, chains: Chains
) -> None:
    feed = await make_feed(db, chains)
    await poller.poll(feed.id)
    first_at = observer.observed_at
    chains.by_kind["n3"].fail_latest = True
    observer.script("publish", "deviation", 1_400_000_000)
    await poller.poll(feed.id)  # round 2 reaches EVM only
    chains.by_kind["n3"].fail_latest = False
    observer.script("unchanged", "within_threshold", 1_400_000_000)
    await poller.poll(feed.id)

    last_call = observer.calls[-1]
    assert last_call["last"] == {"answer": 1_234_000_000, "observed_at": first_at}
    assert [t["round_id"] for t in last_call["targets"]] == [3, 2]


async def test_a_disabled_feed_is_not_observed(
    db: Database, poller: FeedPoller, observer: SigningObserver, chains: Chains
) -> None:
    feed = await make_feed(db, chains, enabled=False)
    assert (await poller.poll(feed.id)).action == "disabled"
    assert (await poller.poll("pfd_01GONE")).action == "disabled"
    assert observer.calls == []


async def test_an_observation_of_another_feed_is_not_recorded(
    db: Database, chains: Chains, identity: Identity
) -> None:
    feed = await make_feed(db, chains)

    class Elsewhere(SigningObserver):
        async def observe(self, args: dict[str, object]) -> Observation:
            return await super().observe({**args, "feed_id": "pfd_01OTHER"})

    with pytest.raises(ObservationMismatch):
        await FeedPoller(db, Elsewhere(identity), chains, clock=lambda: NOW).poll(feed.id)
    assert await rounds_of(db, feed.id) == []
    assert (await reload(db, feed.id)).last_observation is None


async def transmission_details(db: Database, feed_id: str) -> dict[str, tuple[str, str]]:
    async with db.session() as session:
        statement = select(PriceTransmission).where(PriceTransmission.feed_id == feed_id)
        return {r.chain: (r.status.value, r.detail) for r in (await session.execute(statement)).scalars()}


async def test_a_round_under_rules_a_chain_has_not_registered_is_not_sent_there(
    db: Database, poller: FeedPoller, chains: Chains
) -> None:
    feed = await make_feed(db, chains)
    chains.by_kind["n3"].registered = None  # the owner registered the hash on EVM only
    result = await poller.poll(feed.id)
    assert result.outcomes == {EVM_CHAIN: "confirmed", N3_CHAIN: "failed"}
    assert chains.by_kind["n3"].published == []  # not even tried
    status, detail = (await transmission_details(db, feed.id))[N3_CHAIN]
    assert status == "failed"
    assert detail.startswith(f"{FEED_CONFIG_NOT_REGISTERED}: ")
    assert f"0x{feed_config_hash(feed).hex()}" in detail
    assert "it has none" in detail


async def test_a_feed_rewritten_in_the_database_gets_no_round_on_any_chain(
    db: Database, poller: FeedPoller, observer: SigningObserver, chains: Chains
) -> None:
    """The attack a TEE defends against: the host rewrites a feed's sources (direct SQL) to its own
    server. The observation is made, and signed, under the rewritten rules — whose hash no chain has
    registered: nothing is sent, and each transmission says what would have to be registered."""
    feed = await make_feed(db, chains)
    registered = feed_config_hash(feed)
    evil = [{"name": "binance", "adapter": "binance", "symbol": "NEOUSDT", "base_url": "https://evil.test"}]
    async with db.transaction() as session:
        await session.execute(
            update(PriceFeed).where(PriceFeed.id == feed.id).values(sources=evil, min_sources=1)
        )
    rewritten = await reload(db, feed.id)
    observer.script("publish", "first", 99_000_000_000)
    result = await poller.poll(feed.id)
    assert result.outcomes == {EVM_CHAIN: "failed", N3_CHAIN: "failed"}
    (args,) = observer.calls
    assert args["sources"] == evil  # the enclave did observe under the rewritten rules
    for chain in chains.by_kind.values():
        assert (chain.published, chain.rounds) == ([], [])
    for status, detail in (await transmission_details(db, feed.id)).values():
        assert status == "failed"
        assert detail.startswith(FEED_CONFIG_NOT_REGISTERED)
        assert f"0x{feed_config_hash(rewritten).hex()}" in detail
        assert f"it has 0x{registered.hex()}" in detail


async def test_a_feed_s_config_hash_is_the_same_before_and_after_it_is_stored(db: Database) -> None:
    config = feed_config({"pair": "NEO/USD", "sources": SOURCES, "targets": TARGETS}, PriceFeedSettings())
    async with db.transaction() as session:
        stored = await service.create_feed(session, config, NOW)
    assert feed_config_hash(config) == feed_config_hash(stored)
    assert feed_config_hash(config) != feed_config_hash(replace(config, max_spread_bps=201))

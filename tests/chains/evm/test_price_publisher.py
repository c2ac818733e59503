"""The EVM price publisher on a real anvil, a real database (both backends) and a real enclave relayer:
rounds published through ``NSLPriceFeed.transmit``, idempotence, crash recovery at both sides of the
broadcast, fee bumps with the same nonce, lost races (no second round), refused reports (no second
attempt), concurrent publishers, a paused gateway, the fee cap.

The reports are signed with the session's stand-in enclave key, which the gateway is made to trust
(``trust_test_signer``); the transactions are signed by the real enclave's relayer key."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import pytest
from web3.types import Nonce, TxParams, Wei

from neo_service_layer.chains.evm.price_publisher import (
    PRICEFEED_SERVICE,
    FeedNotConfigured,
    evm_price_publisher,
)
from neo_service_layer.chains.evm.relay import EvmRelay
from neo_service_layer.chains.evm.tx import transact
from neo_service_layer.chains.fulfilments import (
    ChainFulfilment,
    FeeBudgetExceeded,
    FulfilmentPending,
    FulfilmentStore,
)
from neo_service_layer.chains.pricefeeds import (
    ChainRound,
    FeedPaused,
    ObservationAhead,
    PricePublisher,
    PublishStatus,
)
from neo_service_layer.services.keys.platform import EnclaveRelayerSigner
from tests.chains.evm.feed_helpers import NEO_USD, TEST_CONFIG_HASH, Feed
from tests.chains.evm.fulfil_helpers import automine_off, rpc
from tests.chains.evm.helpers import EnclaveKey
from tests.worker.helpers import wait_until

#: Gas of a transmit: ~107,250 for a feed's first round (fresh slots), ~90,140 for the next (calldata varies).
TRANSMIT_GAS_RANGE = (80_000, 130_000)


class Killed(RuntimeError):
    """The process stops here (as if killed): nothing after this point runs."""


class DiesBeforeBroadcast(EvmRelay):
    """A relay that stops after the signed transaction is recorded and before it is broadcast, once."""

    died = False

    async def broadcast(self, row: ChainFulfilment) -> None:
        if not DiesBeforeBroadcast.died:
            DiesBeforeBroadcast.died = True
            raise Killed("killed after recording, before broadcasting")
        await super().broadcast(row)


async def test_a_round_is_published_and_read_back(feed: Feed, tmp_path: Path) -> None:
    platform = feed.platform
    settings = platform.settings(tmp_path)
    signer = EnclaveRelayerSigner(platform.db, platform.enclave, feed.nsl.chain_id)
    publisher: PricePublisher = await evm_price_publisher(
        settings, platform.db, signer, feed.address, chain_id=feed.nsl.chain_id
    )
    t = feed.now() - 30
    assert await publisher.latest() is None
    assert await publisher.config_hash() == TEST_CONFIG_HASH  # what the deployment registered
    unset = await evm_price_publisher(
        settings,
        platform.db,
        signer,
        feed.nsl.deployment.price_feeds["GAS / USD"],
        chain_id=feed.nsl.chain_id,
    )
    assert await unset.config_hash() is None

    first = await publisher.publish(feed.report(1, NEO_USD, t))
    second = await publisher.publish(feed.report(2, NEO_USD + 5_000_000, t + 10))

    assert publisher.chain == platform.chain
    assert (first.status, second.status) == (PublishStatus.CONFIRMED, PublishStatus.CONFIRMED)
    assert await publisher.latest() == ChainRound(2, NEO_USD + 5_000_000, t + 10)
    assert feed.nsl.feed_consumer.functions.getAnswerAt(1).call() == NEO_USD
    assert feed.nsl.feed.functions.latestRoundData().call() == [2, NEO_USD + 5_000_000, t + 10, t + 10, 2]
    receipt = feed.nsl.w3.eth.get_transaction_receipt(first.tx_hash)  # type: ignore[arg-type]
    assert receipt["from"] == feed.relayer
    assert (first.block_number, first.gas_used) == (receipt["blockNumber"], receipt["gasUsed"])
    assert first.fee == receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert first.gas_used is not None
    assert second.gas_used is not None
    print(f"transmit gasUsed: first round {first.gas_used}, next round {second.gas_used}")
    assert TRANSMIT_GAS_RANGE[0] < second.gas_used < first.gas_used < TRANSMIT_GAS_RANGE[1]
    row = await feed.row(1)
    assert row is not None
    assert (row.service, row.status, row.attempts, row.relayer) == (
        PRICEFEED_SERVICE,
        "confirmed",
        1,
        feed.relayer,
    )
    assert row.request_id == hashlib.sha256(f"{platform.chain}:{feed.address.lower()}:1".encode()).hexdigest()
    # Capped by NSL_EVM_PRICEFEED_MAX_FEE_WEI: the most the relayer could have paid.
    assert row.gas_limit is not None
    assert row.max_fee_per_gas is not None
    assert row.gas_limit * row.max_fee_per_gas <= settings.evm.pricefeed_max_fee_wei


async def test_publishing_again_sends_nothing(feed: Feed) -> None:
    report = feed.report(1, NEO_USD, feed.now() - 30)
    first = await feed.publisher().publish(report)
    sent = feed.sent()

    again = await feed.publisher().publish(report)
    # The row forgets its outcome (a restore of an older backup): the chain still decides, nothing is sent.
    await FulfilmentStore(feed.platform.db, feed.platform.chain).update(feed.key(1), status="sent")
    reconciled = await feed.publisher().publish(report)

    assert first.status is PublishStatus.CONFIRMED
    assert again == first
    assert reconciled == first
    assert feed.sent() == sent
    assert len(feed.rounds()) == 1


async def test_a_publisher_killed_before_broadcasting_is_resumed_by_a_fresh_one(feed: Feed) -> None:
    report = feed.report(1, NEO_USD, feed.now() - 30)
    DiesBeforeBroadcast.died = False
    with pytest.raises(Killed):
        await feed.publisher(relay=DiesBeforeBroadcast).publish(report)
    recorded = await feed.row(1)
    assert recorded is not None
    assert recorded.status == "sent"
    assert not feed.knows(recorded.tx_hash)  # signed and recorded, never sent
    assert await feed.publisher().latest() is None

    outcome = await feed.publisher().publish(report)

    assert outcome.status is PublishStatus.CONFIRMED
    assert outcome.tx_hash == recorded.tx_hash  # the recorded transaction, not a new one
    row = await feed.row(1)
    assert row is not None
    assert (row.attempts, row.tx_hashes, row.nonce) == (1, [recorded.tx_hash], recorded.nonce)
    assert len(feed.rounds()) == 1


@pytest.mark.parametrize("lost", [False, True], ids=["in-the-pool", "dropped-from-the-pool"])
async def test_a_publisher_killed_waiting_for_its_receipt_is_resumed_by_a_fresh_one(
    feed: Feed, lost: bool
) -> None:
    """Killed (its task cancelled) while the transaction waits in anvil's pool; if ``lost``, the pool
    forgets it too (a node restart): the fresh publisher rebroadcasts the recorded raw transaction."""
    nsl = feed.nsl
    report = feed.report(1, NEO_USD, feed.now() - 30)
    with automine_off(nsl):
        first = asyncio.create_task(feed.publisher().publish(report))
        sent = await feed.wait_status(1, "sent")
        await wait_until(lambda: _knows(feed, sent.tx_hash))
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        if lost:
            rpc(nsl, "anvil_dropTransaction", sent.tx_hash)
            assert not feed.knows(sent.tx_hash)
        second = asyncio.create_task(feed.publisher().publish(report))
        await wait_until(lambda: _knows(feed, sent.tx_hash))  # still, or again, in the pool
        rpc(nsl, "evm_mine")
        outcome = await asyncio.wait_for(second, 20)

    assert outcome.status is PublishStatus.CONFIRMED
    assert outcome.tx_hash == sent.tx_hash
    row = await feed.row(1)
    assert row is not None
    assert (row.attempts, row.nonce) == (1, sent.nonce)
    assert len(feed.rounds()) == 1


async def test_a_slow_round_is_replaced_with_the_same_nonce_and_higher_fees(feed: Feed) -> None:
    nsl = feed.nsl
    report = feed.report(1, NEO_USD, feed.now() - 30)
    with automine_off(nsl):
        task = asyncio.create_task(feed.publisher(replace_after_seconds=0.3).publish(report))
        sent = await feed.wait_status(1, "sent")
        await wait_until(lambda: _knows(feed, sent.tx_hash))
        original = nsl.w3.eth.get_transaction(sent.tx_hash)  # type: ignore[arg-type]

        async def replaced() -> bool:
            # Recorded, then broadcast: mine only once the node holds the replacement.
            row = await feed.row(1)
            return row is not None and row.attempts >= 2 and feed.knows(row.tx_hash)

        await wait_until(replaced)
        rpc(nsl, "evm_mine")
        outcome = await asyncio.wait_for(task, 20)

    row = await feed.row(1)
    assert row is not None
    assert outcome.status is PublishStatus.CONFIRMED
    assert outcome.tx_hash in row.tx_hashes[1:]  # a replacement was mined, not the first version
    mined = nsl.w3.eth.get_transaction(outcome.tx_hash)  # type: ignore[arg-type]
    assert original["blockNumber"] is None
    assert mined["nonce"] == original["nonce"] == row.nonce
    assert mined["maxFeePerGas"] >= original["maxFeePerGas"] * 9 // 8
    assert mined["maxPriorityFeePerGas"] >= original["maxPriorityFeePerGas"] * 9 // 8
    assert len(feed.rounds()) == 1


async def test_a_round_another_report_took_is_superseded_without_sending(feed: Feed) -> None:
    t = feed.now() - 30
    feed.transmit(feed.report(1, NEO_USD + 1, t))  # relayed by someone else first
    sent = feed.sent()

    outcome = await feed.publisher().publish(feed.report(1, NEO_USD, t))

    assert outcome.status is PublishStatus.SUPERSEDED
    assert f"{NEO_USD + 1}" in outcome.detail
    assert outcome.tx_hash is not None
    assert outcome.fee is None  # not ours
    assert feed.sent() == sent
    assert await feed.publisher().latest() == ChainRound(1, NEO_USD + 1, t)


async def test_a_lost_race_in_the_same_block_is_superseded_and_sends_no_second_round(feed: Feed) -> None:
    """Our transmit waits in the pool; another report for the same round is mined first in the same block
    (a higher tip): ours reverts UnexpectedRound, the chain's round decides, nothing more is sent."""
    nsl = feed.nsl
    t = feed.now() - 30
    with automine_off(nsl):
        task = asyncio.create_task(feed.publisher().publish(feed.report(1, NEO_USD, t)))
        sent = await feed.wait_status(1, "sent")
        await wait_until(lambda: _knows(feed, sent.tx_hash))
        other = feed.report(1, NEO_USD + 7, t + 1)
        params: TxParams = {
            "from": nsl.user.address,
            "nonce": Nonce(nsl.w3.eth.get_transaction_count(nsl.user.address, "pending")),
            "gas": 200_000,  # no estimate: it would run after our pending transmit
            "maxPriorityFeePerGas": Wei(10**11),
            "maxFeePerGas": Wei(10**12),
        }
        fn = nsl.feed.functions.transmit(other.round_id, other.answer, other.observed_at, other.signature)
        signed = nsl.user.sign_transaction(fn.build_transaction(params))  # type: ignore[arg-type]
        nsl.w3.eth.send_raw_transaction(signed.raw_transaction)
        rpc(nsl, "evm_mine")
        outcome = await asyncio.wait_for(task, 20)
    sent_after = feed.sent()

    again = await feed.publisher().publish(feed.report(1, NEO_USD, t))

    assert outcome.status is PublishStatus.SUPERSEDED
    assert outcome.tx_hash == signed.hash.to_0x_hex()
    ours = nsl.w3.eth.get_transaction_receipt(sent.tx_hash)  # type: ignore[arg-type]
    assert ours["status"] == 0
    assert again == outcome
    assert feed.sent() == sent_after
    assert nsl.feed.functions.latestRound().call() == 1
    assert [e.args.current for e in feed.rounds()] == [NEO_USD + 7]


@pytest.mark.parametrize(
    ("round_id", "offset", "signer", "reason"),
    [
        pytest.param(1, 0, "other", "NotEnclaveSigned(", id="forged"),
        pytest.param(3, 0, "enclave", "UnexpectedRound(1, 3)", id="skipped-round"),
        pytest.param(2, -5, "enclave", "InvalidObservationTime(", id="older-than-the-last-round"),
    ],
)
async def test_a_refused_report_fails_with_the_decoded_reason_and_is_never_sent(
    feed: Feed, round_id: int, offset: int, signer: str, reason: str
) -> None:
    t = feed.now() - 30
    if round_id == 2:
        await feed.publisher().publish(feed.report(1, NEO_USD, t))
    report = feed.report(round_id, NEO_USD, t + offset, EnclaveKey() if signer == "other" else None)
    sent = feed.sent()

    outcome = await feed.publisher().publish(report)
    again = await feed.publisher().publish(report)

    assert outcome.status is PublishStatus.FAILED
    assert reason in outcome.detail
    assert "would_revert" in outcome.detail
    assert again == outcome
    assert (outcome.tx_hash, outcome.fee) == (None, None)
    assert feed.sent() == sent
    row = await feed.row(round_id)
    assert row is not None
    assert (row.attempts, row.nonce, row.failure_reason) == (0, None, "would_revert")


async def test_a_report_ahead_of_the_chain_waits(feed: Feed) -> None:
    publisher = feed.publisher()
    report = feed.report(1, NEO_USD, feed.now() + 3600)

    with pytest.raises(ObservationAhead) as waiting:
        await publisher.publish(report)

    assert isinstance(waiting.value, FulfilmentPending)  # retried later, as any pending publication
    assert waiting.value.code == "pricefeed_observation_ahead"
    row = await feed.row(1)
    assert row is not None
    assert (row.status, row.nonce) == ("pending", None)


def _mine_at(feed: Feed, timestamp: int) -> None:
    feed.nsl.w3.provider.make_request("evm_mine", [timestamp])  # type: ignore[arg-type]


async def test_a_report_just_ahead_of_the_chain_waits_for_its_block_in_the_same_call(feed: Feed) -> None:
    observed_at = feed.now() + 2  # a fresh observation: the latest block is a moment older
    publishing = asyncio.create_task(feed.publisher().publish(feed.report(1, NEO_USD, observed_at)))
    await asyncio.sleep(0.3)
    assert not publishing.done()  # waiting for a block as late as the observation

    _mine_at(feed, observed_at)
    outcome = await asyncio.wait_for(publishing, 10)

    assert outcome.status is PublishStatus.CONFIRMED
    assert len(feed.rounds()) == 1


async def test_a_report_ahead_of_the_chain_is_left_to_the_next_poll_when_no_block_comes(feed: Feed) -> None:
    publisher = feed.publisher(observation_wait_seconds=0.3)

    with pytest.raises(ObservationAhead):
        await publisher.publish(feed.report(1, NEO_USD, feed.now() + 2))

    assert feed.rounds() == []


async def test_concurrent_publishers_of_one_round_write_it_once(feed: Feed) -> None:
    t = feed.now() - 30
    same = feed.report(1, NEO_USD, t)
    sent = feed.sent()

    outcomes = await asyncio.gather(*(feed.publisher().publish(same) for _ in range(3)))

    assert {(o.status, o.tx_hash) for o in outcomes} == {(PublishStatus.CONFIRMED, outcomes[0].tx_hash)}
    assert len(feed.rounds()) == 1
    # One transaction: a publisher that read the row before another's nonce was committed used to give
    # the round a second nonce (test_fulfil_parts: one request, one nonce).
    assert feed.sent() - sent == 1


async def test_two_pollers_racing_with_different_reports_publish_one(feed: Feed) -> None:
    """Two reports for one round (two pollers observed different prices): the row sends the first one it
    recorded, so one round is written; its publisher is confirmed, the other superseded."""
    t = feed.now() - 30
    reports = [feed.report(1, NEO_USD, t), feed.report(1, NEO_USD + 3, t + 1)]

    outcomes = await asyncio.gather(*(feed.publisher().publish(r) for r in reports))

    statuses = [o.status for o in outcomes]
    assert sorted(statuses) == [PublishStatus.CONFIRMED, PublishStatus.SUPERSEDED]
    winner = reports[statuses.index(PublishStatus.CONFIRMED)]
    assert await feed.publisher().latest() == ChainRound(1, winner.answer, winner.observed_at)
    assert len(feed.rounds()) == 1


async def test_a_paused_gateway_holds_the_round_until_it_resumes(feed: Feed) -> None:
    nsl = feed.nsl
    report = feed.report(1, NEO_USD, feed.now() - 30)
    transact(nsl.w3, nsl.owner, nsl.gateway.functions.setPaused(True))
    sent = feed.sent()

    with pytest.raises(FeedPaused) as paused:
        await feed.publisher().publish(report)
    assert paused.value.code == "pricefeed_paused"
    assert isinstance(paused.value, FulfilmentPending)
    assert feed.sent() == sent
    transact(nsl.w3, nsl.owner, nsl.gateway.functions.setPaused(False))
    outcome = await feed.publisher().publish(report)

    assert outcome.status is PublishStatus.CONFIRMED
    assert feed.sent() == sent + 1


async def test_a_pause_mined_before_the_round_sends_it_again_later(feed: Feed) -> None:
    """The owner pauses the gateway in the block that mines our transmit (a higher tip, so first): ours
    reverts GatewayPaused; the row goes back to pending, and after the pause a new transaction writes it."""
    nsl = feed.nsl
    report = feed.report(1, NEO_USD, feed.now() - 30)
    with automine_off(nsl):
        task = asyncio.create_task(feed.publisher().publish(report))
        sent = await feed.wait_status(1, "sent")
        await wait_until(lambda: _knows(feed, sent.tx_hash))
        params: TxParams = {
            "from": nsl.owner.address,
            "nonce": Nonce(nsl.w3.eth.get_transaction_count(nsl.owner.address, "pending")),
            "maxPriorityFeePerGas": Wei(10**11),
            "maxFeePerGas": Wei(10**12),
        }
        pause = nsl.gateway.functions.setPaused(True).build_transaction(params)
        nsl.w3.eth.send_raw_transaction(nsl.owner.sign_transaction(pause).raw_transaction)  # type: ignore[arg-type]
        rpc(nsl, "evm_mine")
        with pytest.raises(FeedPaused):
            await asyncio.wait_for(task, 20)
    reverted = nsl.w3.eth.get_transaction_receipt(sent.tx_hash)  # type: ignore[arg-type]
    assert reverted["status"] == 0
    requeued = await feed.row(1)
    assert requeued is not None
    assert (requeued.status, requeued.nonce, requeued.tx_hashes) == ("pending", None, [])
    transact(nsl.w3, nsl.owner, nsl.gateway.functions.setPaused(False))

    outcome = await feed.publisher().publish(report)

    assert outcome.status is PublishStatus.CONFIRMED
    assert outcome.tx_hash != sent.tx_hash
    assert sent.nonce is not None
    assert nsl.w3.eth.get_transaction(outcome.tx_hash)["nonce"] == sent.nonce + 1  # type: ignore[arg-type]
    assert len(feed.rounds()) == 1


async def test_a_round_that_would_cost_more_than_the_cap_is_not_sent(feed: Feed) -> None:
    publisher = feed.publisher(max_fee_wei=50_000)  # less than 1 wei per gas of a transmit
    sent = feed.sent()

    with pytest.raises(FeeBudgetExceeded) as waiting:
        await publisher.publish(feed.report(1, NEO_USD, feed.now() - 30))

    assert waiting.value.code == "fee_budget_exceeded"
    row = await feed.row(1)
    assert row is not None
    assert (row.status, row.nonce, row.tx_hash) == ("pending", None, None)
    assert feed.sent() == sent


async def test_a_publisher_for_another_chain_is_refused(feed: Feed, tmp_path: Path) -> None:
    platform = feed.platform
    signer = EnclaveRelayerSigner(platform.db, platform.enclave, feed.nsl.chain_id)
    with pytest.raises(FeedNotConfigured, match="is on evm:1, the node is evm:"):
        await evm_price_publisher(platform.settings(tmp_path), platform.db, signer, feed.address, chain_id=1)
    unset = platform.settings(tmp_path, evm={"rpc_url": None})
    with pytest.raises(FeedNotConfigured) as missing:
        await evm_price_publisher(unset, platform.db, signer, feed.address, chain_id=feed.nsl.chain_id)
    assert missing.value.code == "chain_not_configured"


async def _knows(feed: Feed, tx_hash: str | None) -> bool:
    return feed.knows(tx_hash)

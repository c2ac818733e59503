"""NSLPriceFeed (Chainlink AggregatorV3Interface) written by enclave-signed reports, read by a consumer
that knows only AggregatorV3Interface."""

from __future__ import annotations

import hashlib

import pytest

from neo_service_layer.chains.evm import messages
from neo_service_layer.chains.evm.tx import transact
from tests.chains.evm.feed_helpers import TEST_CONFIG_HASH
from tests.chains.evm.flows import Nsl
from tests.chains.evm.helpers import EnclaveKey, assert_reverts, one_event, revert_name

NEO_USD = 12_34_000_000  # 12.34 with 8 decimals


def _now(nsl: Nsl) -> int:
    return int(nsl.w3.eth.get_block("latest")["timestamp"])


def _report(
    nsl: Nsl,
    round_id: int,
    answer: int,
    observed_at: int,
    key: EnclaveKey | None = None,
    config_hash: bytes = TEST_CONFIG_HASH,
) -> bytes:
    digest = messages.price_report_digest(
        nsl.chain_id, nsl.feed.address, round_id, answer, observed_at, config_hash
    )
    return (key or nsl.enclave).sign(digest)


def _transmit(nsl: Nsl, round_id: int, answer: int, observed_at: int) -> None:
    sig = _report(nsl, round_id, answer, observed_at)
    transact(nsl.w3, nsl.user, nsl.feed.functions.transmit(round_id, answer, observed_at, sig))


def test_rounds_read_through_aggregator_v3_interface(nsl: Nsl) -> None:
    t0 = _now(nsl) - 120
    _transmit(nsl, 1, NEO_USD, t0)
    _transmit(nsl, 2, NEO_USD + 5_000_000, t0 + 60)
    f = nsl.feed.functions
    assert f.decimals().call() == 8
    assert f.description().call() == "NEO / USD"
    assert f.version().call() == 2
    assert f.latestRoundData().call() == [2, NEO_USD + 5_000_000, t0 + 60, t0 + 60, 2]
    assert f.getRoundData(1).call() == [1, NEO_USD, t0, t0, 1]
    c = nsl.feed_consumer.functions
    assert c.getChainlinkDataFeedLatestAnswer().call() == NEO_USD + 5_000_000
    assert c.getAnswerAt(1).call() == NEO_USD
    assert c.getDecimals().call() == 8
    assert c.getDescription().call() == "NEO / USD"
    assert c.getCheckedPrice(3600).call() == [NEO_USD + 5_000_000, t0 + 60]
    assert revert_name(nsl.build, c.getCheckedPrice(1), nsl.user.address) == "StalePrice"


def test_no_data_before_the_first_round(nsl: Nsl) -> None:
    assert revert_name(nsl.build, nsl.feed.functions.latestRoundData(), nsl.user.address) == "NoDataPresent"
    assert revert_name(nsl.build, nsl.feed.functions.getRoundData(7), nsl.user.address) == "NoDataPresent"


@pytest.mark.parametrize(
    "config_hash", [TEST_CONFIG_HASH, bytes(32), b"\xff" * 32], ids=["set", "zero", "ff"]
)
def test_report_digest_agrees_with_python(nsl: Nsl, config_hash: bytes) -> None:
    on_chain = nsl.feed.functions.reportDigest(3, -5, 1_700_000_000, config_hash).call()
    assert on_chain == messages.price_report_digest(
        nsl.chain_id, nsl.feed.address, 3, -5, 1_700_000_000, config_hash
    )


def test_transmit_emits_answer_updated(nsl: Nsl) -> None:
    t = _now(nsl) - 10
    sig = _report(nsl, 1, NEO_USD, t)
    receipt = transact(nsl.w3, nsl.user, nsl.feed.functions.transmit(1, NEO_USD, t, sig))
    event = one_event(nsl.feed, "AnswerUpdated", receipt)
    assert (event.args.current, event.args.roundId, event.args.updatedAt) == (NEO_USD, 1, t)


@pytest.mark.parametrize(
    ("round_id", "offset", "signer", "error"),
    [
        (1, 0, "other", "NotEnclaveSigned"),
        (2, 0, "enclave", "UnexpectedRound"),  # skips round 1
        (0, 0, "enclave", "UnexpectedRound"),
        (1, 10_000, "enclave", "InvalidObservationTime"),  # in the future
    ],
    ids=["other-key", "skipped-round", "round-zero", "future-time"],
)
def test_bad_reports_are_rejected(nsl: Nsl, round_id: int, offset: int, signer: str, error: str) -> None:
    t = _now(nsl) - 30 + offset
    key = EnclaveKey() if signer == "other" else None
    fn = nsl.feed.functions.transmit(round_id, NEO_USD, t, _report(nsl, round_id, NEO_USD, t, key))
    assert_reverts(nsl.w3, nsl.build, nsl.user, fn, error)


def test_replayed_or_older_report_is_rejected(nsl: Nsl) -> None:
    t = _now(nsl) - 30
    sig = _report(nsl, 1, NEO_USD, t)
    transact(nsl.w3, nsl.user, nsl.feed.functions.transmit(1, NEO_USD, t, sig))
    replay = nsl.feed.functions.transmit(1, NEO_USD, t, sig)
    assert_reverts(nsl.w3, nsl.build, nsl.user, replay, "UnexpectedRound")
    older = nsl.feed.functions.transmit(2, NEO_USD, t, _report(nsl, 2, NEO_USD, t))
    assert_reverts(nsl.w3, nsl.build, nsl.user, older, "InvalidObservationTime")


def test_report_for_another_feed_is_rejected(nsl: Nsl) -> None:
    other = nsl.contract("NSLPriceFeed", nsl.deployment.price_feeds["GAS / USD"])
    transact(nsl.w3, nsl.owner, other.functions.setConfigHash(TEST_CONFIG_HASH))  # the same rules, even
    t = _now(nsl) - 30
    sig = _report(nsl, 1, NEO_USD, t)  # signed for the NEO / USD feed
    assert_reverts(
        nsl.w3, nsl.build, nsl.user, other.functions.transmit(1, NEO_USD, t, sig), "NotEnclaveSigned"
    )


def test_paused_gateway_pauses_the_feed(nsl: Nsl) -> None:
    transact(nsl.w3, nsl.owner, nsl.gateway.functions.setPaused(True))
    t = _now(nsl) - 30
    fn = nsl.feed.functions.transmit(1, NEO_USD, t, _report(nsl, 1, NEO_USD, t))
    assert_reverts(nsl.w3, nsl.build, nsl.user, fn, "GatewayPaused")


def test_the_deployment_registers_the_known_config_hash(nsl: Nsl) -> None:
    assert nsl.feed.functions.configHash().call() == TEST_CONFIG_HASH
    other = nsl.contract("NSLPriceFeed", nsl.deployment.price_feeds["GAS / USD"])
    assert other.functions.configHash().call() == bytes(32)
    assert nsl.feed.functions.owner().call() == nsl.owner.address == nsl.gateway.functions.owner().call()


def test_a_report_observed_under_other_rules_is_refused(nsl: Nsl) -> None:
    """The attack: the real enclave key signs a price observed under rules a host rewrote (another
    config hash); the feed rebuilds the digest with its registered hash, so the signature is not the
    enclave's. Under the registered hash the same round goes through."""
    t = _now(nsl) - 30
    rewritten = _report(nsl, 1, NEO_USD, t, config_hash=hashlib.sha256(b"host's own server").digest())
    fn = nsl.feed.functions.transmit(1, NEO_USD, t, rewritten)
    assert_reverts(nsl.w3, nsl.build, nsl.user, fn, "NotEnclaveSigned")
    _transmit(nsl, 1, NEO_USD, t)
    assert nsl.feed.functions.latestRound().call() == 1


def test_a_feed_with_no_config_hash_takes_no_report(nsl: Nsl) -> None:
    other = nsl.contract("NSLPriceFeed", nsl.deployment.price_feeds["GAS / USD"])
    t = _now(nsl) - 30
    for rules in (bytes(32), TEST_CONFIG_HASH):
        digest = messages.price_report_digest(nsl.chain_id, other.address, 1, NEO_USD, t, rules)
        fn = other.functions.transmit(1, NEO_USD, t, nsl.enclave.sign(digest))
        assert_reverts(nsl.w3, nsl.build, nsl.user, fn, "ConfigNotSet")


def test_only_the_gateway_owner_sets_the_config_hash(nsl: Nsl) -> None:
    new = hashlib.sha256(b"new rules").digest()
    fn = nsl.feed.functions.setConfigHash(new)
    assert_reverts(nsl.w3, nsl.build, nsl.user, fn, "NotOwner")
    receipt = transact(nsl.w3, nsl.owner, fn)
    event = one_event(nsl.feed, "ConfigHashSet", receipt)
    assert (event.args.previous, event.args.current) == (TEST_CONFIG_HASH, new)
    # A new hash takes effect at once: a report under the old rules no longer verifies.
    t = _now(nsl) - 30
    old = nsl.feed.functions.transmit(1, NEO_USD, t, _report(nsl, 1, NEO_USD, t))
    assert_reverts(nsl.w3, nsl.build, nsl.user, old, "NotEnclaveSigned")
    fresh = _report(nsl, 1, NEO_USD, t, config_hash=new)
    transact(nsl.w3, nsl.user, nsl.feed.functions.transmit(1, NEO_USD, t, fresh))
    # Ownership follows the gateway's: its new owner sets the hash, the old one no longer can.
    transact(nsl.w3, nsl.owner, nsl.gateway.functions.transferOwnership(nsl.user.address))
    assert_reverts(nsl.w3, nsl.build, nsl.owner, fn, "NotOwner")
    transact(nsl.w3, nsl.user, nsl.feed.functions.setConfigHash(TEST_CONFIG_HASH))
    assert nsl.feed.functions.configHash().call() == TEST_CONFIG_HASH

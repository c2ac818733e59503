"""The N3 price publisher on a real neo-go chain, a real database (both backends) and a real enclave: reports
signed by the enclave identity (as the ``pricefeed.observe`` op signs them: ``ctx.sign(message).p256``)
become rounds the example consumer reads; publishing twice (one after the other, or racing) makes one
round; a publisher killed between recording its transaction and broadcasting it is resumed from the row
by the next; a round another report took first is SUPERSEDED (before we sent, or in the block after);
refused reports FAIL with stable reasons and a paused gateway's round goes out once it is unpaused.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import pytest
from neo3.api.wrappers import GenericContract
from pydantic import ValidationError

from neo_service_layer.chains.fulfilments import FulfilmentStatus
from neo_service_layer.chains.neo_n3.devnet import facade_for
from neo_service_layer.chains.neo_n3.errors import N3PriceFeedError
from neo_service_layer.chains.neo_n3.price_publisher import (
    FEE_CAP_EXCEEDED,
    NOT_ENCLAVE_SIGNED,
    STALE_OBSERVATION,
    UNKNOWN_PAIR,
    N3PricePublisher,
    N3PublishPolicy,
    publication_key,
)
from neo_service_layer.chains.neo_n3.rpc import N3Rpc
from neo_service_layer.chains.pricefeeds import (
    ChainRound,
    FeedPaused,
    ObservationAhead,
    PricePublisher,
    PublishStatus,
    SignedReport,
)
from neo_service_layer.config import Settings
from neo_service_layer.enclave.crypto import price_reports
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.services.keys.platform import N3EnclaveRelayerSigner
from tests.chains.fulfilment_rows import fulfilment_row
from tests.chains.neo_n3.helpers import TEST_CONFIG_HASH, EnclaveKey, stack_int, test_invoke
from tests.chains.neo_n3.platform import VALID_BLOCKS, N3Platform

PAIR = "NEO/USD"
GAS = 10**8


def feed(platform: N3Platform) -> GenericContract:
    assert platform.deployment.price_feed is not None
    return GenericContract(platform.deployment.price_feed)


def sign(
    platform: N3Platform,
    enclave: EnclaveServer,
    round_id: int,
    answer: int,
    observed_at: int,
    *,
    pair: str = PAIR,
    key: EnclaveKey | None = None,
    config_hash: bytes = TEST_CONFIG_HASH,
) -> SignedReport:
    """A report signed by the enclave identity, as the observe op signs it (or by ``key``), under the
    pair's registered rules unless ``config_hash``."""
    contract = bytes(feed(platform).hash.to_array())
    message = price_reports.n3_price_report_message(
        platform.deployment.magic, contract, pair, round_id, answer, observed_at, config_hash
    )
    signature = key.sign(message) if key is not None else enclave.ctx.sign(message).p256
    return SignedReport(round_id, answer, observed_at, signature)


async def publisher(platform: N3Platform, rpc: N3Rpc, pair: str = PAIR, **policy: Any) -> N3PricePublisher:
    signer = N3EnclaveRelayerSigner(platform.db, platform.enclave, platform.deployment.magic)
    options: dict[str, Any] = {"poll_seconds": 0.1, "valid_blocks": VALID_BLOCKS} | policy
    return await N3PricePublisher.connect(
        rpc, f"0x{feed(platform).hash}", pair, platform.db, signer, policy=N3PublishPolicy(**options)
    )


def read(platform: N3Platform, method: str, *args: Any) -> Any:
    reply = test_invoke(platform.rpc_url, feed(platform).call_function(method, list(args)), platform.admin)
    assert reply.state == "HALT", reply.exception
    return reply.stack[0]


async def transmit_directly(platform: N3Platform, report: SignedReport, pair: str = PAIR) -> None:
    """Someone else relays ``report`` (anyone may): the admin's own transaction."""
    call = feed(platform).call_function(
        "transmit", [pair, report.round_id, report.answer, report.observed_at, report.signature]
    )
    receipt = await facade_for(platform.rpc_url, platform.admin).invoke_multi([call])
    assert str(receipt.state) == "HALT", receipt.exception


def test_the_policy_comes_from_the_n3_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert N3PublishPolicy.from_settings(Settings().n3) == N3PublishPolicy()
    monkeypatch.setenv("NSL_N3_PRICEFEED_MAX_FEE", "123456")
    monkeypatch.setenv("NSL_N3_FULFIL_VALID_BLOCKS", "9")
    assert N3PublishPolicy.from_settings(Settings().n3) == N3PublishPolicy(valid_blocks=9, max_fee=123_456)


@pytest.mark.parametrize(
    "value", [0, -1, 10**10 + 1, "0.5"], ids=["zero", "negative", "above-100-gas", "fraction"]
)
def test_a_fee_cap_out_of_range_is_refused(value: object) -> None:
    with pytest.raises(ValidationError, match=r"n3\.pricefeed_max_fee\n  Input should be"):
        Settings.model_validate({"n3": {"pricefeed_max_fee": value}})


def test_publication_key_is_the_sha256_of_chain_contract_pair_and_round() -> None:
    key = publication_key("n3:56753", "0x" + "ab" * 20, "NEO/USD", 7)
    assert key == hashlib.sha256(f"n3:56753:0x{'ab' * 20}:NEO/USD:7".encode()).hexdigest()
    assert len({publication_key("n3:1", "0x1", "A/B", r) for r in range(3)}) == 3


async def test_publish_is_read_by_the_consumer_and_idempotent(
    n3_platform: N3Platform, enclave_server: EnclaveServer
) -> None:
    now = int(time.time())
    first = sign(n3_platform, enclave_server, 1, 1_234_000_000, now - 120)
    second = sign(n3_platform, enclave_server, 2, 1_240_000_000, now - 60)
    async with N3Rpc(n3_platform.rpc_url) as rpc:
        pub = await publisher(n3_platform, rpc)
        shared: PricePublisher = pub  # it is the shared protocol (mypy checks it)
        assert shared.chain == n3_platform.chain
        assert await pub.latest() is None
        assert await shared.config_hash() == TEST_CONFIG_HASH  # what the deployment registered
        unset = await publisher(n3_platform, rpc, pair="GAS/USD")  # a default pair, no hash registered
        assert await unset.config_hash() is None
        started = time.monotonic()
        outcome = await pub.publish(first)
        elapsed = time.monotonic() - started
        again = await pub.publish(first)
        racing = await asyncio.gather(
            pub.publish(second), (await publisher(n3_platform, rpc)).publish(second)
        )
        latest = await pub.latest()

    assert outcome.status is PublishStatus.CONFIRMED, outcome.detail
    assert again == outcome
    assert [o.status for o in racing] == [PublishStatus.CONFIRMED] * 2
    assert latest == ChainRound(2, 1_240_000_000, now - 60)
    assert stack_int(read(n3_platform, "latest_round", PAIR)) == 2
    assert outcome.tx_hash is not None
    assert outcome.block_number is not None
    assert outcome.gas_used is not None
    assert outcome.fee is not None
    # The fee paid is the system fee (what the transmit consumed, burnt in full) and the network fee.
    # (network fee ~0.013 GAS: ~0.01 for the signature check, the rest by size)
    assert outcome.gas_used < outcome.fee < outcome.gas_used + GAS // 50
    print(
        f"\nN3 publish: system fee {outcome.gas_used / GAS:.5f} GAS, paid {outcome.fee / GAS:.5f} GAS, "
        f"{elapsed:.2f} s to confirmed"
    )
    row = await fulfilment_row(n3_platform.db, n3_platform.chain, pub.key(1))
    assert row is not None
    assert (row.service, row.status, row.attempts, row.tx_hash) == (
        "pricefeed",
        "confirmed",
        1,
        outcome.tx_hash,
    )
    assert row.relayer == n3_platform.keys.relayer_script_hash
    consumer = GenericContract(n3_platform.deployment.examples["PriceFeedConsumer"])
    reply = test_invoke(
        n3_platform.rpc_url,
        [
            consumer.call_function("get_latest", [PAIR]),
            consumer.call_function("get_checked_price", [PAIR, 3600]),
            consumer.call_function("get_answer_at", [PAIR, 1]),
        ],
        n3_platform.admin,
    )
    assert reply.state == "HALT", reply.exception
    assert [stack_int(v) for v in reply.stack[0]["value"]] == [1_240_000_000, now - 60]
    assert [stack_int(v) for v in reply.stack[1]["value"]] == [1_240_000_000, now - 60]
    assert stack_int(reply.stack[2]) == 1_234_000_000


class _Killed(Exception):
    """Stands for SIGKILL between recording the signed transaction and broadcasting it."""


class _DyingRpc(N3Rpc):
    """The real node; the process "dies" when it is about to broadcast."""

    async def send(self, tx: bytes) -> str:
        raise _Killed


async def known_to_node(rpc: N3Rpc, tx_hash: str | None) -> bool:
    assert tx_hash is not None
    return await rpc.in_mempool(tx_hash) or await rpc.application_log(tx_hash) is not None


async def test_a_publisher_killed_before_broadcasting_is_resumed_from_its_row(
    n3_platform: N3Platform, enclave_server: EnclaveServer
) -> None:
    report = sign(n3_platform, enclave_server, 1, 987_654_321, int(time.time()) - 30)
    async with _DyingRpc(n3_platform.rpc_url) as dying:
        with pytest.raises(_Killed):
            await (await publisher(n3_platform, dying)).publish(report)
    async with N3Rpc(n3_platform.rpc_url) as rpc:
        pub = await publisher(n3_platform, rpc)
        recorded = await fulfilment_row(n3_platform.db, n3_platform.chain, pub.key(1))
        assert recorded is not None
        assert (recorded.status, recorded.attempts) == ("sent", 1)
        assert not await known_to_node(rpc, recorded.tx_hash)

        outcome = await pub.publish(report)
        latest = await pub.latest()

    assert outcome.status is PublishStatus.CONFIRMED, outcome.detail
    assert outcome.tx_hash == recorded.tx_hash  # the recorded transaction, nothing signed again
    row = await fulfilment_row(n3_platform.db, n3_platform.chain, pub.key(1))
    assert row is not None
    assert (row.attempts, row.tx_hashes) == (1, [recorded.tx_hash])
    assert latest == ChainRound(1, 987_654_321, report.observed_at)


async def test_a_round_another_report_took_is_superseded(
    n3_platform: N3Platform, enclave_server: EnclaveServer
) -> None:
    now = int(time.time())
    ours = sign(n3_platform, enclave_server, 1, 500, now - 60)
    theirs = sign(n3_platform, enclave_server, 1, 501, now - 61)
    # Round 1: the other report lands before we send anything.
    await transmit_directly(n3_platform, theirs)
    # Round 2: our transaction is recorded (not broadcast) first, then the other report lands; our
    # transaction, broadcast on resuming, FAULTs in its block.
    ours_2 = sign(n3_platform, enclave_server, 2, 600, now - 30)
    theirs_2 = sign(n3_platform, enclave_server, 2, 601, now - 31)
    async with N3Rpc(n3_platform.rpc_url) as rpc:
        pub = await publisher(n3_platform, rpc)
        lost = await pub.publish(ours)
        again = await pub.publish(ours)
        confirmed_for_theirs = await pub.publish(theirs)
        async with _DyingRpc(n3_platform.rpc_url) as dying:
            with pytest.raises(_Killed):
                await (await publisher(n3_platform, dying)).publish(ours_2)
        await transmit_directly(n3_platform, theirs_2)
        lost_in_block = await pub.publish(ours_2)
        row = await fulfilment_row(n3_platform.db, n3_platform.chain, pub.key(2))
        assert row is not None
        assert row.tx_hash is not None
        log = await rpc.application_log(row.tx_hash)

    assert (lost.status, lost.tx_hash, lost.fee) == (PublishStatus.SUPERSEDED, None, None)
    assert "answer 501" in lost.detail
    assert again == lost
    assert confirmed_for_theirs.status is PublishStatus.CONFIRMED
    assert lost_in_block.status is PublishStatus.SUPERSEDED, lost_in_block.detail
    assert lost_in_block.tx_hash is None  # the round's transaction is not ours
    assert lost_in_block.fee is not None
    assert lost_in_block.fee > 0  # but ours reached a block (and FAULTed): it paid
    assert log is not None
    assert log["executions"][0]["vmstate"] == "FAULT"
    assert "unexpected round" in log["executions"][0]["exception"]
    assert (row.status, row.failure_reason, row.attempts) == ("confirmed", "superseded", 1)
    assert stack_int(read(n3_platform, "latest_round", PAIR)) == 2


async def test_refused_reports_fail_with_stable_reasons(
    n3_platform: N3Platform, enclave_server: EnclaveServer
) -> None:
    now = int(time.time())
    first = sign(n3_platform, enclave_server, 1, 100, now - 100)
    cases = [
        (sign(n3_platform, enclave_server, 2, 200, now - 50, key=EnclaveKey()), NOT_ENCLAVE_SIGNED),
        (sign(n3_platform, enclave_server, 2, 200, now - 100), STALE_OBSERVATION),
    ]
    gateway = GenericContract(n3_platform.deployment.gateway)
    admin = facade_for(n3_platform.rpc_url, n3_platform.admin)
    async with N3Rpc(n3_platform.rpc_url) as rpc:
        pub = await publisher(n3_platform, rpc)
        assert (await pub.publish(first)).status is PublishStatus.CONFIRMED
        refused = [await pub.publish(report) for report, _ in cases]
        unknown = await publisher(n3_platform, rpc, pair="NOPE/USD")
        with pytest.raises(N3PriceFeedError):
            await unknown.latest()
        unknown_outcome = await unknown.publish(
            sign(n3_platform, enclave_server, 1, 1, now - 5, pair="NOPE/USD")
        )

        # Paused: later (as on EVM), and the same round goes out once the gateway is unpaused; a report
        # observed after the chain's latest block: later too.
        good = sign(n3_platform, enclave_server, 2, 200, now - 50)
        with pytest.raises(ObservationAhead):
            await pub.publish(sign(n3_platform, enclave_server, 2, 200, now + 3600))
        assert str((await admin.invoke_multi([gateway.call_function("pause")])).state) == "HALT"
        try:
            with pytest.raises(FeedPaused):
                await pub.publish(good)
        finally:
            assert str((await admin.invoke_multi([gateway.call_function("unpause")])).state) == "HALT"
        resumed = await pub.publish(good)
        capped = await publisher(n3_platform, rpc, max_fee=GAS // 10)
        over_cap = await capped.publish(sign(n3_platform, enclave_server, 3, 300, now - 40))

    for outcome, (_, reason) in zip(refused, cases, strict=True):
        assert outcome.status is PublishStatus.FAILED
        assert outcome.detail.startswith(reason), outcome.detail
        assert (outcome.tx_hash, outcome.fee) == (None, None)  # refused in the test run: nothing sent
    assert unknown_outcome.status is PublishStatus.FAILED
    assert unknown_outcome.detail.startswith(UNKNOWN_PAIR)
    assert resumed.status is PublishStatus.CONFIRMED, resumed.detail
    assert over_cap.status is PublishStatus.FAILED
    assert over_cap.detail.startswith(FEE_CAP_EXCEEDED)
    assert (over_cap.tx_hash, over_cap.fee) == (None, None)
    row = await fulfilment_row(n3_platform.db, n3_platform.chain, pub.key(2))
    assert row is not None
    assert row.status == FulfilmentStatus.CONFIRMED
    assert stack_int(read(n3_platform, "latest_round", PAIR)) == 2


class _DroppingRpc(N3Rpc):
    """The real node, but the first transaction broadcast never reaches it (lost on the way)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.dropped: list[bytes] = []

    async def send(self, tx: bytes) -> str:
        if not self.dropped:
            self.dropped.append(tx)
            return "0x" + "00" * 32
        return await super().send(tx)

    async def in_mempool(self, tx_hash: str) -> bool:
        return True  # so the publisher does not rebroadcast: the transaction must expire


async def test_an_expired_transaction_is_rebuilt_and_sent_again(
    n3_platform: N3Platform, enclave_server: EnclaveServer
) -> None:
    report = sign(n3_platform, enclave_server, 1, 4242, int(time.time()) - 10)
    async with _DroppingRpc(n3_platform.rpc_url) as rpc:
        outcome = await (await publisher(n3_platform, rpc, valid_blocks=1)).publish(report)
    row = await fulfilment_row(
        n3_platform.db,
        n3_platform.chain,
        publication_key(n3_platform.chain, f"0x{feed(n3_platform).hash}", PAIR, 1),
    )
    assert row is not None
    assert outcome.status is PublishStatus.CONFIRMED, outcome.detail
    assert (row.attempts, len(row.tx_hashes), len(rpc.dropped)) == (2, 2, 1)
    assert outcome.tx_hash == row.tx_hashes[1]


async def test_the_feed_trusts_the_key_the_gateway_trusts_now(
    n3_platform: N3Platform, enclave_server: EnclaveServer
) -> None:
    """Rotating the gateway's enclave key rotates the feed's: a transaction recorded before the rotation
    and broadcast after it FAULTs in its block (FAILED, it paid), and the new key's report for that round
    is then taken (this test's own gateway: the rotation stays here)."""
    now = int(time.time())
    new_key = EnclaveKey()
    old_report = sign(n3_platform, enclave_server, 1, 700, now - 20)
    async with _DyingRpc(n3_platform.rpc_url) as dying:
        with pytest.raises(_Killed):
            await (await publisher(n3_platform, dying)).publish(old_report)
    rotate = GenericContract(n3_platform.deployment.gateway).call_function(
        "set_enclave_key", [new_key.public_key, bytes.fromhex("77" * 48)]
    )
    receipt = await facade_for(n3_platform.rpc_url, n3_platform.admin).invoke_multi([rotate])
    assert str(receipt.state) == "HALT", receipt.exception
    async with N3Rpc(n3_platform.rpc_url) as rpc:
        pub = await publisher(n3_platform, rpc)
        old = await pub.publish(old_report)
        new = await pub.publish(sign(n3_platform, enclave_server, 1, 701, now - 19, key=new_key))
        latest = await pub.latest()

    assert old.status is PublishStatus.FAILED
    assert old.detail.startswith(NOT_ENCLAVE_SIGNED)
    assert old.tx_hash is not None  # refused in its block
    assert old.fee is not None
    assert old.fee > 0
    assert new.status is PublishStatus.CONFIRMED, new.detail
    assert new.tx_hash != old.tx_hash
    assert latest == ChainRound(1, 701, now - 19)
    row = await fulfilment_row(n3_platform.db, n3_platform.chain, pub.key(1))
    assert row is not None
    assert (row.status, row.failure_reason, row.attempts, row.tx_hashes) == (
        "confirmed",
        None,
        2,
        [new.tx_hash],
    )


async def test_a_transaction_refused_in_its_block_by_a_pause_is_replaced_after_it(
    n3_platform: N3Platform, enclave_server: EnclaveServer
) -> None:
    report = sign(n3_platform, enclave_server, 1, 800, int(time.time()) - 20)
    gateway = GenericContract(n3_platform.deployment.gateway)
    admin = facade_for(n3_platform.rpc_url, n3_platform.admin)
    async with _DyingRpc(n3_platform.rpc_url) as dying:
        with pytest.raises(_Killed):  # recorded, not broadcast; then the gateway is paused
            await (await publisher(n3_platform, dying)).publish(report)
    assert str((await admin.invoke_multi([gateway.call_function("pause")])).state) == "HALT"
    async with N3Rpc(n3_platform.rpc_url) as rpc:
        pub = await publisher(n3_platform, rpc)
        try:
            with pytest.raises(FeedPaused):  # the recorded transaction, broadcast now, FAULTs in its block
                await pub.publish(report)
            paused = await fulfilment_row(n3_platform.db, n3_platform.chain, pub.key(1))
        finally:
            assert str((await admin.invoke_multi([gateway.call_function("unpause")])).state) == "HALT"
        outcome = await pub.publish(report)

    assert paused is not None
    assert (paused.status, paused.attempts, paused.tx_hashes) == ("pending", 1, [])
    assert outcome.status is PublishStatus.CONFIRMED, outcome.detail
    row = await fulfilment_row(n3_platform.db, n3_platform.chain, pub.key(1))
    assert row is not None
    assert (row.attempts, row.tx_hashes) == (2, [outcome.tx_hash])

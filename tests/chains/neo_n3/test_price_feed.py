"""NSLPriceFeed (``contracts/nsl_price_feed.py``) on a real neo-go chain: the report message it rebuilds is
byte for byte ``price_reports.n3_price_report_message``; an enclave-signed report becomes a round the
example consumer reads (unchecked, staleness-checked, by round); forged, replayed, skipped, badly timed,
non-positive, unknown-pair and paused-gateway transmissions are refused.

Each test adds pairs of its own (``add_feed`` by the session's admin), so rounds start at 1 per test.
Observation times count up from ten minutes ago (the block's time must not be before them).
"""

from __future__ import annotations

import hashlib
import itertools
import time
from dataclasses import dataclass
from typing import Any

import pytest
from neo3.api.wrappers import GenericContract

from neo_service_layer.enclave.crypto import price_reports
from tests.chains.neo_n3.helpers import (
    TEST_CONFIG_HASH,
    EnclaveKey,
    Nsl,
    events,
    send,
    stack_bytes,
    stack_int,
    test_invoke,
)

GAS = 10**8
_pair_numbers = itertools.count(1)


def new_pair() -> str:
    return f"T{next(_pair_numbers)}X{time.monotonic_ns() % 10**6}/USD"


def feed_le(nsl: Nsl) -> bytes:
    assert nsl.deployment.price_feed is not None
    return bytes(nsl.deployment.price_feed.to_array())


@dataclass(frozen=True)
class Report:
    pair: str
    round_id: int
    answer: int
    observed_at: int
    signature: bytes

    def call(self, feed: GenericContract) -> Any:
        return feed.call_function(
            "transmit", [self.pair, self.round_id, self.answer, self.observed_at, self.signature]
        )


def sign(
    nsl: Nsl,
    pair: str,
    round_id: int,
    answer: int,
    observed_at: int,
    *,
    key: EnclaveKey | None = None,
    magic: int | None = None,
    contract: bytes | None = None,
    config_hash: bytes = TEST_CONFIG_HASH,
) -> Report:
    """A report signed like the enclave signs it (another key, network, contract or rules when named)."""
    message = price_reports.n3_price_report_message(
        nsl.deployment.magic if magic is None else magic,
        feed_le(nsl) if contract is None else contract,
        pair,
        round_id,
        answer,
        observed_at,
        config_hash,
    )
    return Report(pair, round_id, answer, observed_at, (key or nsl.enclave).sign(message))


async def add_pairs(nsl: Nsl, *pairs: str, config_hash: bytes | None = TEST_CONFIG_HASH) -> None:
    """Add ``pairs`` and register ``config_hash`` for each (none when None)."""
    calls = [nsl.price_feed.call_function("add_feed", [p, 8, p.replace("/", " / ")]) for p in pairs]
    if config_hash is not None:
        calls += [nsl.price_feed.call_function("set_config_hash", [p, config_hash]) for p in pairs]
    state, _, _, exception = await send(nsl, calls, nsl.admin)
    assert state == "HALT", exception


def read(nsl: Nsl, contract: GenericContract, method: str, *args: Any) -> Any:
    reply = test_invoke(nsl.rpc_url, contract.call_function(method, list(args)), nsl.stranger)
    assert reply.state == "HALT", reply.exception
    return reply.stack[0]


def round_of(item: dict[str, Any]) -> list[int]:
    return [stack_int(v) for v in item["value"]]


@pytest.mark.parametrize(
    ("pair", "round_id", "answer", "observed_at", "config_hash"),
    [
        pytest.param("NEO/USD", 1, 1, 0, bytes(32), id="smallest"),
        pytest.param("GAS/USD", 255, 128, 1_700_000_000, TEST_CONFIG_HASH, id="sign-bytes"),
        pytest.param("BTC/USD", 2**63 - 1, 2**255 - 1, 2**63 - 1, b"\xff" * 32, id="largest"),
        pytest.param("ETH/USD", 2**32, 2**64, 2**40, b"\x80" + bytes(31), id="wide"),
        pytest.param("ÅÆ/€", 7, 1_234_000_000, 1_765_000_000, TEST_CONFIG_HASH, id="utf8-pair"),
        pytest.param("X" * 64, 65536, 99, 3, bytes(31) + b"\x01", id="64-byte-pair"),
    ],
)
def test_report_message_is_price_reports_message(
    nsl: Nsl, pair: str, round_id: int, answer: int, observed_at: int, config_hash: bytes
) -> None:
    on_chain = stack_bytes(
        read(nsl, nsl.price_feed, "report_message", pair, round_id, answer, observed_at, config_hash)
    )
    expected = price_reports.n3_price_report_message(
        nsl.deployment.magic, feed_le(nsl), pair, round_id, answer, observed_at, config_hash
    )
    assert len(on_chain) == 151
    assert on_chain == expected


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        pytest.param(["NEO/USD", 1, 0, 1, TEST_CONFIG_HASH], "answer must be positive", id="zero-answer"),
        pytest.param(
            ["NEO/USD", 1, -5, 1, TEST_CONFIG_HASH], "answer must be positive", id="negative-answer"
        ),
        pytest.param(["NEO/USD", 2**63, 1, 1, TEST_CONFIG_HASH], "out of range", id="round-2^63"),
        pytest.param(["NEO/USD", 1, 1, -1, TEST_CONFIG_HASH], "out of range", id="negative-time"),
        pytest.param(["NEO/USD", 1, 1, 1, bytes(31)], "a config hash is 32 bytes", id="short-config-hash"),
    ],
)
def test_report_message_refuses_what_no_report_carries(nsl: Nsl, args: list[Any], reason: str) -> None:
    call = nsl.price_feed.call_function("report_message", args)
    test_invoke(nsl.rpc_url, call, nsl.stranger).assert_fault(reason)


async def test_transmit_and_read_through_the_consumer(nsl: Nsl) -> None:
    pair, empty = new_pair(), new_pair()
    await add_pairs(nsl, pair, empty)
    feed, consumer = nsl.price_feed, nsl.consumer("PriceFeedConsumer")
    test_invoke(nsl.rpc_url, feed.call_function("latest_round_data", [empty]), nsl.stranger).assert_fault(
        "no data present"
    )
    test_invoke(nsl.rpc_url, consumer.call_function("get_latest", [empty]), nsl.stranger).assert_fault(
        "no data present"
    )
    start = int(time.time()) - 600
    first = sign(nsl, pair, 1, 1_234_000_000, start)
    second = sign(nsl, pair, 2, 1_250_000_000, int(time.time()) - 1)

    gas = test_invoke(nsl.rpc_url, first.call(feed), nsl.relayer)
    assert gas.state == "HALT", gas.exception
    state, used, notifications, exception = await send(nsl, [first.call(feed)], nsl.relayer)
    assert state == "HALT", exception
    state, used_second, more, exception = await send(nsl, [second.call(feed)], nsl.relayer)
    assert state == "HALT", exception
    print(f"\nN3 price feed transmit: system fee {used / GAS:.5f} GAS, then {used_second / GAS:.5f}")
    # Measured 0.276 / 0.267 GAS (docs/chains-neo-n3.md): mostly calls (~0.01-0.02 GAS each) and storage.
    assert used < 3 * GAS // 10
    assert used_second < 3 * GAS // 10

    updates = events([*notifications, *more], "AnswerUpdated", feed.hash)
    assert updates == [
        [pair.encode(), 1_234_000_000, 1, start],
        [pair.encode(), 1_250_000_000, 2, second.observed_at],
    ]
    assert round_of(read(nsl, feed, "latest_round_data", pair)) == [
        2,
        1_250_000_000,
        second.observed_at,
        second.observed_at,
        2,
    ]
    assert round_of(read(nsl, feed, "get_round_data", pair, 1)) == [1, 1_234_000_000, start, start, 1]
    assert stack_int(read(nsl, feed, "latest_round", pair)) == 2
    assert stack_int(read(nsl, feed, "latest_round", empty)) == 0
    assert stack_int(read(nsl, feed, "decimals", pair)) == 8
    assert stack_bytes(read(nsl, feed, "description", pair)) == pair.replace("/", " / ").encode()
    assert stack_int(read(nsl, feed, "version")) == 2
    listed = [stack_bytes(item) for item in read(nsl, feed, "pairs")["value"]]
    assert listed[:4] == [b"NEO/USD", b"GAS/USD", b"BTC/USD", b"ETH/USD"]
    assert [pair.encode(), empty.encode()] == listed[-2:]
    for round_id in (0, 3, 10**6):
        test_invoke(
            nsl.rpc_url, feed.call_function("get_round_data", [pair, round_id]), nsl.stranger
        ).assert_fault("no data present")

    assert round_of(read(nsl, consumer, "get_latest", pair)) == [1_250_000_000, second.observed_at]
    assert round_of(read(nsl, consumer, "get_checked_price", pair, 3600)) == [
        1_250_000_000,
        second.observed_at,
    ]
    stale = consumer.call_function("get_checked_price", [pair, 0])
    test_invoke(nsl.rpc_url, stale, nsl.stranger).assert_fault("stale price")
    assert stack_int(read(nsl, consumer, "get_answer_at", pair, 1)) == 1_234_000_000
    assert stack_int(read(nsl, consumer, "get_decimals", pair)) == 8
    assert stack_bytes(read(nsl, consumer, "get_description", pair)) == pair.replace("/", " / ").encode()

    # The same report again, for real: refused in its block, the round stays.
    state, _, _, exception = await send(nsl, [second.call(feed)], nsl.relayer)
    assert state == "FAULT"
    assert "unexpected round" in (exception or "")
    assert stack_int(read(nsl, feed, "latest_round", pair)) == 2


async def test_refused_transmissions(nsl: Nsl) -> None:
    pair = new_pair()
    await add_pairs(nsl, pair)
    feed = nsl.price_feed
    now = int(time.time())
    previous = sign(nsl, pair, 1, 100, now - 300)
    state, _, _, exception = await send(nsl, [previous.call(feed)], nsl.relayer)
    assert state == "HALT", exception
    good = sign(nsl, pair, 2, 200, now - 60)
    assert test_invoke(nsl.rpc_url, good.call(feed), nsl.relayer).state == "HALT"
    unsigned = bytes(64)

    cases: list[tuple[str, Report, str]] = [
        (
            "other-key",
            sign(nsl, pair, 2, 200, now - 60, key=EnclaveKey()),
            "signature is not from the enclave",
        ),
        (
            "other-answer",
            Report(pair, 2, 201, now - 60, good.signature),
            "signature is not from the enclave",
        ),
        (
            "other-contract",
            sign(nsl, pair, 2, 200, now - 60, contract=bytes(nsl.deployment.gateway.to_array())),
            "signature is not from the enclave",
        ),
        (
            "other-network",
            sign(nsl, pair, 2, 200, now - 60, magic=nsl.deployment.magic + 1),
            "signature is not from the enclave",
        ),
        (
            "other-pair",
            Report(pair, 2, 200, now - 60, sign(nsl, "NEO/USD", 2, 200, now - 60).signature),
            "signature is not from the enclave",
        ),
        ("truncated-signature", Report(pair, 2, 200, now - 60, good.signature[:63]), "signature"),
        ("replayed", previous, "unexpected round"),
        ("skipped-round", sign(nsl, pair, 3, 200, now - 60), "unexpected round"),
        ("round-zero", sign(nsl, pair, 0, 200, now - 60), "unexpected round"),
        ("same-time", sign(nsl, pair, 2, 200, now - 300), "not after the previous round's"),
        ("older-time", sign(nsl, pair, 2, 200, now - 301), "not after the previous round's"),
        ("future-time", sign(nsl, pair, 2, 200, now + 3600), "invalid observation time: in the future"),
        ("zero-answer", Report(pair, 2, 0, now - 60, unsigned), "answer must be positive"),
        ("negative-answer", Report(pair, 2, -200, now - 60, unsigned), "answer must be positive"),
        ("unknown-pair", sign(nsl, "NOPE/USD", 1, 200, now - 60), "unknown pair"),
        # The attack: the enclave's key over a price observed under rules a host rewrote.
        (
            "other-rules",
            sign(nsl, pair, 2, 200, now - 60, config_hash=hashlib.sha256(b"host's server").digest()),
            "signature is not from the enclave",
        ),
    ]
    failures = []
    for case_id, report, reason in cases:
        reply = test_invoke(nsl.rpc_url, report.call(feed), nsl.relayer)
        if reply.state != "FAULT" or reason not in (reply.exception or ""):
            failures.append((case_id, reply.state, reply.exception))
    assert failures == []

    # Paused gateway: the feed follows its pause switch; the good report passes again once unpaused.
    state, _, _, exception = await send(nsl, [nsl.gateway.call_function("pause")], nsl.admin)
    assert state == "HALT", exception
    try:
        test_invoke(nsl.rpc_url, good.call(feed), nsl.relayer).assert_fault("gateway is paused")
    finally:
        state, _, _, exception = await send(nsl, [nsl.gateway.call_function("unpause")], nsl.admin)
        assert state == "HALT", exception
    assert test_invoke(nsl.rpc_url, good.call(feed), nsl.relayer).state == "HALT"


async def test_only_the_owner_adds_feeds_once(nsl: Nsl) -> None:
    feed, pair = nsl.price_feed, new_pair()
    rpc = nsl.rpc_url
    test_invoke(rpc, feed.call_function("add_feed", [pair, 8, ""]), nsl.stranger).assert_fault(
        "only the owner"
    )
    bad: list[tuple[list[Any], str]] = [
        (["", 8, ""], "a pair is 1-64 bytes"),
        (["X" * 65, 8, ""], "a pair is 1-64 bytes"),
        ([pair, 19, ""], "decimals must be 0-18"),
        ([pair, -1, ""], "decimals must be 0-18"),
        ([pair, 8, "d" * 257], "description too long"),
        (["NEO/USD", 8, ""], "feed exists"),
    ]
    for args, reason in bad:
        test_invoke(rpc, feed.call_function("add_feed", args), nsl.admin).assert_fault(reason)
    owner = read(nsl, feed, "owner")
    gateway = read(nsl, feed, "gateway")
    assert stack_bytes(owner) == bytes(nsl.admin.script_hash.to_array())
    assert stack_bytes(gateway) == bytes(nsl.deployment.gateway.to_array())


async def test_config_hashes_are_the_owner_s_and_a_pair_without_one_takes_no_report(nsl: Nsl) -> None:
    pair = new_pair()
    await add_pairs(nsl, pair, config_hash=None)
    feed, rpc = nsl.price_feed, nsl.rpc_url
    assert stack_bytes(read(nsl, feed, "config_hash", pair)) == b""
    assert stack_bytes(read(nsl, feed, "config_hash", "NEO/USD")) == TEST_CONFIG_HASH  # deploy_nsl's
    now = int(time.time())
    report = sign(nsl, pair, 1, 100, now - 60)
    test_invoke(rpc, report.call(feed), nsl.relayer).assert_fault("config hash not set")

    rules = hashlib.sha256(b"the owner's rules").digest()
    set_it = feed.call_function("set_config_hash", [pair, rules])
    test_invoke(rpc, set_it, nsl.stranger).assert_fault("only the owner")
    test_invoke(rpc, set_it, nsl.relayer).assert_fault("only the owner")
    refused: list[tuple[list[Any], str]] = [
        ([pair, rules[:31]], "32 bytes"),
        (["NOPE/USD", rules], "unknown pair"),
    ]
    for args, reason in refused:
        test_invoke(rpc, feed.call_function("set_config_hash", args), nsl.admin).assert_fault(reason)
    state, _, notifications, exception = await send(nsl, [set_it], nsl.admin)
    assert state == "HALT", exception
    assert events(notifications, "ConfigHashSet", feed.hash) == [[pair.encode(), rules]]
    assert stack_bytes(read(nsl, feed, "config_hash", pair)) == rules
    # Under the registered rules the round goes through; under any other hash it does not.
    test_invoke(rpc, report.call(feed), nsl.relayer).assert_fault("signature is not from the enclave")
    good = sign(nsl, pair, 1, 100, now - 60, config_hash=rules)
    state, _, _, exception = await send(nsl, [good.call(feed)], nsl.relayer)
    assert state == "HALT", exception

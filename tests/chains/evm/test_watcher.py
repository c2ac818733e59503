"""The gateway watcher on a real anvil: confirmed blocks only, bounded scans, reorgs repaired."""

from __future__ import annotations

from typing import Any

import pytest
from hexbytes import HexBytes

from neo_service_layer.chains.evm.errors import InvalidChainMessage
from neo_service_layer.chains.evm.messages import Mode
from neo_service_layer.chains.evm.requests import (
    SERVICE_REQUESTED_SIGNATURE,
    SERVICE_REQUESTED_TOPIC,
    decode_service_requested,
    service_name,
)
from neo_service_layer.chains.evm.watcher import Cursor, EvmWatcher, ReorgTooDeep
from tests.chains.evm.flows import Nsl, mine, reorg, request_randomness
from tests.chains.evm.helpers import one_event


def _watcher(nsl: Nsl, **options: Any) -> EvmWatcher:
    """A watcher that starts after the current head, so it sees only this test's requests."""
    return EvmWatcher(nsl.w3, nsl.gateway.address, start_block=nsl.w3.eth.block_number + 1, **options)


def _request_ids(scan_requests: list[Any]) -> list[bytes]:
    return [r.request_id for r in scan_requests]


def test_event_signature_is_the_compiled_gateways(nsl: Nsl) -> None:
    events = [
        e for e in nsl.build["NSLGateway"].abi if e.get("type") == "event" and e["name"] == "ServiceRequested"
    ]
    types = ",".join(i["type"] for i in events[0]["inputs"])
    assert f"ServiceRequested({types})" == SERVICE_REQUESTED_SIGNATURE


def test_scan_decodes_requests_as_the_chain_recorded_them(nsl: Nsl) -> None:
    watcher = _watcher(nsl)
    request_id, receipt = request_randomness(nsl, b"seed-1", verify=True)
    scan = watcher.scan(Cursor())

    assert len(scan.requests) == 1
    found = scan.requests[0]
    event = one_event(nsl.gateway, "ServiceRequested", receipt)
    assert found.request_id == request_id
    assert found.requester == event.args.requester
    assert found.service == "randomness"
    assert found.payload == bytes(event.args.payload)
    assert found.mode is Mode.ONCHAIN_VERIFY
    assert found.callback_contract == nsl.randomness_consumer.address
    assert found.callback_selector == bytes(event.args.callbackSelector)
    assert found.fee_paid == event.args.feePaid > 0
    assert (found.block_number, found.tx_hash) == (receipt["blockNumber"], bytes(receipt["transactionHash"]))
    assert found.idempotency_key == f"evm:{nsl.chain_id}:{found.tx_hash.hex()}:{found.log_index}"
    assert found.to_payload()["request_id"] == request_id.hex()
    assert scan.cursor.last_block == nsl.w3.eth.block_number


def test_a_second_scan_from_the_new_cursor_finds_nothing_again(nsl: Nsl) -> None:
    watcher = _watcher(nsl)
    request_randomness(nsl, b"a", verify=False)
    first = watcher.scan(Cursor())
    again = watcher.scan(first.cursor)
    assert len(first.requests) == 1
    assert again.requests == []
    assert again.cursor == first.cursor

    second_id, _ = request_randomness(nsl, b"b", verify=False)
    third = watcher.scan(Cursor.from_json(first.cursor.to_json()))  # as stored and read back
    assert _request_ids(third.requests) == [second_id]


def test_requests_wait_for_the_confirmation_depth(nsl: Nsl) -> None:
    watcher = _watcher(nsl, confirmations=3)
    request_id, _ = request_randomness(nsl, b"deep", verify=False)
    early = watcher.scan(Cursor())
    assert early.requests == []
    assert early.cursor.last_block is None or early.cursor.last_block < early.head - 2

    mine(nsl, 3)
    late = watcher.scan(early.cursor)
    assert _request_ids(late.requests) == [request_id]
    assert late.cursor.last_block == late.head - 3


def test_bounded_scans_together_see_every_request_once(nsl: Nsl) -> None:
    watcher = _watcher(nsl, max_blocks=2, window=3)
    expected = [request_randomness(nsl, bytes([i]), verify=False)[0] for i in range(5)]
    mine(nsl, 2)
    cursor, seen, scans = Cursor(), [], 0
    while True:
        scan = watcher.scan(cursor)
        scans += 1
        seen += _request_ids(scan.requests)
        if scan.cursor == cursor:
            break
        assert len(scan.cursor.recent) <= 3
        cursor = scan.cursor
    assert seen == expected
    assert scans >= 4  # 7 blocks, 2 per scan


@pytest.mark.parametrize("blocks_before", [2, 0], ids=["fork-in-window", "fork-before-start-block"])
def test_a_reorg_is_repaired_and_the_new_branch_rescanned(nsl: Nsl, blocks_before: int) -> None:
    mine(nsl, 1)  # the fork point: a block this test mined (``reorg``)
    watcher = _watcher(nsl)
    if blocks_before:
        mine(nsl, blocks_before)
    orphan_id, orphan_receipt = request_randomness(nsl, b"orphan", verify=False)
    mine(nsl, 1)
    before = watcher.scan(Cursor())
    assert _request_ids(before.requests) == [orphan_id]

    reorg(nsl, 2)  # drops the request's block and the one after it
    replacement_id, _ = request_randomness(nsl, b"replacement", verify=False)
    after = watcher.scan(before.cursor)

    assert after.orphaned_from == orphan_receipt["blockNumber"]
    assert after.cursor.recent[0][0] == watcher.start_block
    assert _request_ids(after.requests) == [replacement_id]
    canonical = {n: bytes(nsl.w3.eth.get_block(n)["hash"]) for n, _ in after.cursor.recent}
    assert all(canonical[n] == h for n, h in after.cursor.recent)


def test_a_reorg_deeper_than_the_window_is_refused(nsl: Nsl) -> None:
    watcher = _watcher(nsl, window=2)
    mine(nsl, 4)
    scan = watcher.scan(Cursor())
    assert len(scan.cursor.recent) == 2
    reorg(nsl, 3)
    with pytest.raises(ReorgTooDeep):
        watcher.scan(scan.cursor)


def test_invalid_watcher_options_are_refused(nsl: Nsl) -> None:
    with pytest.raises(ValueError, match="max_blocks"):
        EvmWatcher(nsl.w3, nsl.gateway.address, max_blocks=0)


def _real_log(nsl: Nsl) -> dict[str, Any]:
    _, receipt = request_randomness(nsl, b"log", verify=False)
    logs = [log for log in receipt["logs"] if HexBytes(log["topics"][0]) == SERVICE_REQUESTED_TOPIC]
    return dict(logs[0])


@pytest.mark.parametrize(
    ("name", "tamper"),
    [
        ("other event", lambda log: {**log, "topics": [HexBytes(b"\x01" * 32), *log["topics"][1:]]}),
        ("missing topic", lambda log: {**log, "topics": log["topics"][:3]}),
        ("truncated data", lambda log: {**log, "data": HexBytes(log["data"])[:40]}),
        ("unknown mode", lambda log: {**log, "data": _with_word(HexBytes(log["data"]), 1, 7)}),
    ],
)
def test_malformed_logs_are_refused(nsl: Nsl, name: str, tamper: Any) -> None:
    log = _real_log(nsl)
    assert decode_service_requested(nsl.chain_id, log).service == "randomness"
    with pytest.raises(InvalidChainMessage):
        decode_service_requested(nsl.chain_id, tamper(log))


def _with_word(data: bytes, index: int, value: int) -> bytes:
    return data[: 32 * index] + value.to_bytes(32, "big") + data[32 * (index + 1) :]


def test_service_names_must_be_ascii() -> None:
    assert service_name(b"oracle" + b"\x00" * 26) == "oracle"
    with pytest.raises(InvalidChainMessage):
        service_name(b"\xff" * 32)

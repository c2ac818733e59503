"""The price reports' byte layouts, pinned field by field (the contracts rebuild the same bytes)."""

from __future__ import annotations

import hashlib

import pytest

from neo_service_layer.enclave.crypto import price_reports
from neo_service_layer.enclave.crypto.errors import InvalidInput

FEED = bytes(range(20))
CONFIG = bytes(range(100, 132))


def test_evm_preimage_layout() -> None:
    pre = price_reports.evm_price_report_preimage(31337, FEED, 7, -5, 1_700_000_000, CONFIG)
    assert pre == (
        b"NSL-PRICE-V2"
        + (31337).to_bytes(32, "big")
        + FEED
        + (7).to_bytes(10, "big")
        + (-5).to_bytes(32, "big", signed=True)
        + (1_700_000_000).to_bytes(8, "big")
        + CONFIG
    )


def test_n3_message_layout() -> None:
    msg = price_reports.n3_price_report_message(
        860833102, FEED, "NEO/USD", 3, 12_34_000_000, 1_700_000_000, CONFIG
    )
    assert len(msg) == 15 + 4 + 20 + 32 + 8 + 32 + 8 + 32
    assert msg == (
        b"NSL-N3-PRICE-V2"
        + (860833102).to_bytes(4, "little")
        + FEED
        + hashlib.sha256(b"NEO/USD").digest()
        + (3).to_bytes(8, "little")
        + (12_34_000_000).to_bytes(32, "little")
        + (1_700_000_000).to_bytes(8, "little")
        + CONFIG
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda: price_reports.evm_price_report_preimage(0, FEED, 1, 1, 1, CONFIG),
        lambda: price_reports.evm_price_report_preimage(1, FEED[:19], 1, 1, 1, CONFIG),
        lambda: price_reports.evm_price_report_preimage(1, FEED, 2**80, 1, 1, CONFIG),
        lambda: price_reports.evm_price_report_preimage(1, FEED, 1, 2**255, 1, CONFIG),
        lambda: price_reports.evm_price_report_preimage(1, FEED, 1, 1, 2**64, CONFIG),
        lambda: price_reports.n3_price_report_message(1, FEED, "", 1, 1, 1, CONFIG),
        lambda: price_reports.n3_price_report_message(1, FEED, "X" * 65, 1, 1, 1, CONFIG),
        lambda: price_reports.n3_price_report_message(2**32, FEED, "A/B", 1, 1, 1, CONFIG),
        lambda: price_reports.n3_price_report_message(1, FEED, "A/B", 1, 0, 1, CONFIG),
        lambda: price_reports.n3_price_report_message(1, FEED, "A/B", 1, -1, 1, CONFIG),
        lambda: price_reports.n3_price_report_message(1, FEED, "A/B", 2**64, 1, 1, CONFIG),
        lambda: price_reports.evm_price_report_preimage(1, FEED, 1, 1, 1, CONFIG[:31]),
        lambda: price_reports.n3_price_report_message(1, FEED, "A/B", 1, 1, 1, CONFIG + b"\x00"),
    ],
    ids=[
        "evm-chain-zero",
        "evm-short-feed",
        "evm-round-overflow",
        "evm-answer-overflow",
        "evm-time-overflow",
        "n3-empty-pair",
        "n3-long-pair",
        "n3-magic-overflow",
        "n3-zero-answer",
        "n3-negative-answer",
        "n3-round-overflow",
        "evm-short-config-hash",
        "n3-long-config-hash",
    ],
)
def test_out_of_range_fields_are_refused(call: object) -> None:
    with pytest.raises(InvalidInput):
        call()  # type: ignore[operator]

"""The price publisher's parts without a chain: the ABI pieces against solc's ABI of ``NSLPriceFeed``, the
row key, the transmit call data, the revert reasons it waits on, and its fee cap setting."""

from __future__ import annotations

import pytest
from eth_abi.abi import decode as abi_decode
from pydantic import ValidationError

from neo_service_layer.chains.evm.build import ContractBuild
from neo_service_layer.chains.evm.contract_rpc import decode_error, selector
from neo_service_layer.chains.evm.price_feed_rpc import (
    ANSWER_UPDATED_SIGNATURE,
    FEED_ERRORS,
    GET_ROUND_DATA_SIGNATURE,
    LATEST_ROUND_DATA_SIGNATURE,
    TRANSMIT_SIGNATURE,
    PriceFeedRpc,
    transmit_calldata,
)
from neo_service_layer.chains.evm.price_publisher import observation_ahead, publication_key
from neo_service_layer.chains.evm.relay import FulfilPolicy
from neo_service_layer.chains.pricefeeds import SignedReport
from neo_service_layer.config import Settings
from neo_service_layer.config.groups import DEFAULT_EVM_PRICEFEED_MAX_FEE_WEI

FEED = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def _signature(item: dict[str, object]) -> str:
    inputs = item["inputs"]
    assert isinstance(inputs, list)
    return f"{item['name']}({','.join(i['type'] for i in inputs)})"


def test_every_signature_matches_the_compiled_feed(evm_build: ContractBuild) -> None:
    abi = evm_build["NSLPriceFeed"].abi
    errors = {_signature(i) for i in abi if i["type"] == "error"}
    functions = {_signature(i) for i in abi if i["type"] == "function"}
    events = {_signature(i) for i in abi if i["type"] == "event"}
    assert set(FEED_ERRORS) == errors
    assert {TRANSMIT_SIGNATURE, GET_ROUND_DATA_SIGNATURE, LATEST_ROUND_DATA_SIGNATURE} <= functions
    assert ANSWER_UPDATED_SIGNATURE in events


def test_transmit_call_data_carries_the_report() -> None:
    report = SignedReport(round_id=2**80 - 1, answer=-5, observed_at=2**64 - 1, signature=b"\x01" * 65)
    data = transmit_calldata(report)
    assert data[:4] == selector(TRANSMIT_SIGNATURE)
    decoded = abi_decode(["uint80", "int256", "uint64", "bytes"], data[4:])
    assert decoded == (report.round_id, report.answer, report.observed_at, report.signature)


@pytest.mark.parametrize(
    ("data", "decoded"),
    [
        (
            selector("UnexpectedRound(uint80,uint80)") + (1).to_bytes(32) + (3).to_bytes(32),
            "UnexpectedRound(1, 3)",
        ),
        (
            selector("NotEnclaveSigned(address)") + bytes(12) + b"\xab" * 20,
            "NotEnclaveSigned(0x" + "ab" * 20 + ")",
        ),
        (selector("GatewayPaused()"), "GatewayPaused()"),
        (
            selector("AlreadyFulfilled(bytes32)") + bytes(32),
            "unknown(0x" + (selector("AlreadyFulfilled(bytes32)") + bytes(32)).hex() + ")",
        ),
    ],
    ids=["unexpected-round", "not-enclave-signed", "paused", "a-gateway-error"],
)
def test_reverts_are_decoded_with_the_feed_errors(data: bytes, decoded: str) -> None:
    assert decode_error(data, PriceFeedRpc.errors) == decoded


@pytest.mark.parametrize(
    ("other", "same"),
    [
        pytest.param(("evm:1", FEED.lower(), 1), True, id="same-feed-other-case"),
        pytest.param(("evm:1", FEED, 2), False, id="other-round"),
        pytest.param(("evm:2", FEED, 1), False, id="other-chain"),
        pytest.param(("evm:1", "0x" + "11" * 20, 1), False, id="other-feed"),
    ],
)
def test_the_row_key_is_one_per_chain_feed_and_round(other: tuple[str, str, int], same: bool) -> None:
    key = publication_key("evm:1", FEED, 1)
    assert len(key) == 64
    assert int(key, 16) >= 0
    assert (publication_key(*other) == key) is same


@pytest.mark.parametrize(
    ("reason", "ahead"),
    [
        pytest.param("InvalidObservationTime(5, 10)", True, id="after-the-last-round"),
        pytest.param("InvalidObservationTime(10, 10)", False, id="same-as-the-last-round"),
        pytest.param("InvalidObservationTime(10, 5)", False, id="before-the-last-round"),
        pytest.param("InvalidObservationTime(0, 1700000000)", True, id="first-round-in-the-future"),
        pytest.param("UnexpectedRound(1, 3)", False, id="other-error"),
        pytest.param("GatewayPaused()", False, id="paused"),
    ],
)
def test_only_an_observation_newer_than_the_last_round_waits(reason: str, ahead: bool) -> None:
    assert observation_ahead(reason) is ahead


def test_the_environment_reaches_the_fee_cap_and_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().evm.pricefeed_max_fee_wei == DEFAULT_EVM_PRICEFEED_MAX_FEE_WEI
    monkeypatch.setenv("NSL_EVM_PRICEFEED_MAX_FEE_WEI", "123456789")
    monkeypatch.setenv("NSL_EVM_FULFIL_REPLACE_SECONDS", "7")
    settings = Settings()
    assert settings.evm.pricefeed_max_fee_wei == 123_456_789
    assert FulfilPolicy.from_settings(settings.evm) == FulfilPolicy(replace_after_seconds=7.0)


@pytest.mark.parametrize(
    "value",
    [0, -1, 10**20 + 1, "1.5", "one GAS"],
    ids=["zero", "negative", "above-100-gas", "fraction", "text"],
)
def test_a_fee_cap_out_of_range_is_refused(value: object) -> None:
    with pytest.raises(ValidationError, match=r"evm\.pricefeed_max_fee_wei\n  Input should be"):
        Settings.model_validate({"evm": {"pricefeed_max_fee_wei": value}})

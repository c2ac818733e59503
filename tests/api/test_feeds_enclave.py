"""A price feed end to end in the real in-process enclave: the shipped NEO/USD feed pointed at the local
exchange simulator, ``pricefeed.observe`` deciding (first, deviation, circuit breaker), the poller
recording, and each round verified offline by ``client.verify_price_round`` from the API's JSON —
tampering with any shown field, the request or a report is caught."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from neo_service_layer.api.state import AppState
from neo_service_layer.client import VerifiedIdentity, verify_attestation
from neo_service_layer.client.pricefeed import verify_price_round
from neo_service_layer.db.base import utcnow
from neo_service_layer.devnet.exchanges import SimulatorServer
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.oracle.fetch import SafeFetcher
from neo_service_layer.errors import PriceRoundVerificationFailed, SignatureInvalid
from neo_service_layer.services.pricefeed import service
from neo_service_layer.services.pricefeed.default_feeds import DEFAULT_FEEDS, pointed_at
from neo_service_layer.services.pricefeed.models import PriceFeed
from neo_service_layer.services.pricefeed.observer import EnclaveObserver
from neo_service_layer.services.pricefeed.params import feed_config
from neo_service_layer.services.pricefeed.poller import FeedPoller
from neo_service_layer.services.pricefeed.service import definition_of
from tests.api.helpers import auth
from tests.chains.pricefeed_helpers import price_all, simulator_fetcher
from tests.enclave.oracle.servers import OraclePKI
from tests.services.pricefeed.observations import TARGETS, Chains


@pytest.fixture
async def enclave_fetcher(pki: OraclePKI) -> AsyncIterator[SafeFetcher]:
    async with simulator_fetcher(pki) as fetcher:
        yield fetcher


async def neo_feed(state: AppState, sim: SimulatorServer) -> PriceFeed:
    definition = definition_of(pointed_at(DEFAULT_FEEDS["NEO/USD"], sim.base_urls))
    config = feed_config({**definition, "targets": TARGETS}, state.settings.pricefeed)
    async with state.db.transaction() as session:
        return await service.create_feed(session, config, utcnow())


async def test_rounds_observed_in_the_enclave_verify_offline(
    client: httpx.AsyncClient,
    admin_key: str,
    state: AppState,
    enclave: UnixEnclaveClient,
    fresh_exchange_sim: SimulatorServer,
) -> None:
    identity: VerifiedIdentity = verify_attestation(await enclave.attest(), allow_software=True)
    feed = await neo_feed(state, fresh_exchange_sim)
    chains = Chains(identity)
    chains.register(feed)
    poller = FeedPoller(state.db, EnclaveObserver(enclave), chains)

    price_all(fresh_exchange_sim, "12.34")
    assert (await poller.poll(feed.id)).round_id == 1
    assert (await poller.poll(feed.id)).action == "unchanged"
    price_all(fresh_exchange_sim, "12.47")  # +1.05 %: over the 50 bps deviation
    assert (await poller.poll(feed.id)).round_id == 2
    fresh_exchange_sim.market.set_price("binance", "NEOUSDT", Decimal("30"))  # one source manipulated
    manipulated = await poller.poll(feed.id)  # 2 of 3 agree: no outlier by MAD, so the spread refuses
    assert (manipulated.action, manipulated.round_id) == ("spread_too_wide", 0)
    price_all(fresh_exchange_sim, "18.70")  # +50 %: beyond the 20 % circuit breaker
    held = await poller.poll(feed.id)
    latest = (await client.get("/v1/feeds/NEO-USD", headers=auth(admin_key))).json()
    assert (held.action, latest["pending_answer"], latest["latest"]["round_id"]) == (
        "breaker_pending",
        "1870000000",
        2,
    )
    confirmed = await poller.poll(feed.id)
    assert (confirmed.action, confirmed.round_id) == ("publish", 3)

    rounds = []
    for round_id in (1, 2, 3):
        response = await client.get(f"/v1/feeds/NEO-USD/rounds/{round_id}", headers=auth(admin_key))
        assert response.status_code == 200, response.text
        rounds.append(response.json())
    verified = [verify_price_round(body, identity) for body in rounds]
    assert [(v.answer, v.reason) for v in verified] == [
        (1_234_000_000, "first"),
        (1_247_000_000, "deviation"),
        (1_870_000_000, "breaker_confirmed"),
    ]
    assert [v.price for v in verified] == [Decimal("12.34"), Decimal("12.47"), Decimal("18.70")]
    assert [(r.chain, r.round_id) for r in verified[2].reports] == [("evm:31337", 3), ("n3:894710606", 3)]
    assert {s["name"]: s["used"] for s in verified[1].sources} == {
        "binance": True,
        "okx": True,
        "coingecko": True,
    }
    assert [r[1] for r in chains.by_kind["evm"].rounds] == [1_234_000_000, 1_247_000_000, 1_870_000_000]
    # The round's request is the feed as it was: its sources and the last answer decided against.
    assert rounds[1]["request"]["params"]["last"]["answer"] == 1_234_000_000
    assert rounds[1]["request"]["account_id"] == "nsl-pricefeed"

    for tamper, error in TAMPERING:
        with pytest.raises(error):
            verify_price_round(tamper(rounds[1]), identity)


def _with(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**body, **changes}


def _params(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    request = body["request"]
    return {**body, "request": {**request, "params": {**request["params"], **changes}}}


def _report(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    envelope = body["envelope"]
    result = envelope["result"]
    reports = [{**result["reports"][0], **changes}, *result["reports"][1:]]
    return {**body, "envelope": {**envelope, "result": {**result, "reports": reports}}}


Tamper = Callable[[dict[str, Any]], dict[str, Any]]
TAMPERING: list[tuple[Tamper, type[Exception]]] = [
    (lambda b: _with(b, answer="1300000000"), PriceRoundVerificationFailed),
    (lambda b: _with(b, answer_decimal="13.00000000"), PriceRoundVerificationFailed),
    (lambda b: _with(b, observed_at=b["observed_at"] + 1), PriceRoundVerificationFailed),
    (lambda b: _with(b, reason="heartbeat"), PriceRoundVerificationFailed),
    (lambda b: _with(b, sources=b["sources"][:2]), PriceRoundVerificationFailed),
    (
        lambda b: _with(b, transmissions=[{**b["transmissions"][0], "chain_round_id": 9}]),
        PriceRoundVerificationFailed,
    ),
    (lambda b: _params(b, min_sources=1), SignatureInvalid),
    (lambda b: _report(b, round_id=9), SignatureInvalid),
    (lambda b: _with(b, request={**b["request"], "op": "oracle.fetch"}), PriceRoundVerificationFailed),
]

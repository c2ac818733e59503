"""The price feed service end to end on anvil: the worker's poll job, wired as ``nsl worker`` wires it
(``pricefeed.observe`` in the real enclave, the EVM publisher with the enclave's relayer), observes the
shipped NEO/USD feed on the exchange simulator and publishes its rounds to the deployment's
``NSLPriceFeed``, which checks the enclave's signature; a deviation publishes exactly one more round."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from neo_service_layer.db.base import utcnow
from neo_service_layer.devnet.exchanges import SimulatorServer
from neo_service_layer.enclave.oracle.fetch import SafeFetcher
from neo_service_layer.services.pricefeed import service
from neo_service_layer.services.pricefeed.default_feeds import DEFAULT_FEEDS, pointed_at
from neo_service_layer.services.pricefeed.models import PriceTransmission
from neo_service_layer.services.pricefeed.params import feed_config
from neo_service_layer.services.pricefeed.service import definition_of
from neo_service_layer.worker.pricefeed_jobs import PRICEFEED_POLL_KIND, enclave_wiring, pricefeed_handlers
from tests.chains.evm.fulfil_helpers import Platform
from tests.chains.pricefeed_helpers import clock_caught_up, price_all, simulator_fetcher
from tests.enclave.oracle.servers import OraclePKI
from tests.worker.helpers import job_context


@pytest.fixture
async def enclave_fetcher(pki: OraclePKI) -> AsyncIterator[SafeFetcher]:
    async with simulator_fetcher(pki) as fetcher:
        yield fetcher


async def test_the_poll_job_publishes_enclave_signed_rounds_on_chain(
    platform: Platform, fresh_exchange_sim: SimulatorServer, tmp_path: Path
) -> None:
    settings = platform.settings(tmp_path)
    nsl = platform.nsl
    definition = definition_of(pointed_at(DEFAULT_FEEDS["NEO/USD"], fresh_exchange_sim.base_urls))
    config = feed_config(
        {**definition, "targets": [{"chain": "evm", "feed": nsl.feed.address}]}, settings.pricefeed
    )
    async with platform.db.transaction() as session:
        feed = await service.create_feed(session, config, utcnow())
    poll = pricefeed_handlers(enclave_wiring)[PRICEFEED_POLL_KIND]
    ctx = job_context(platform.db, settings, PRICEFEED_POLL_KIND, {"feed_id": feed.id})

    price_all(fresh_exchange_sim, "12.34")
    clock_caught_up(nsl.w3)
    first = await poll(ctx)
    price_all(fresh_exchange_sim, "12.35")  # 8 bps: within the deviation
    unchanged = await poll(ctx)
    price_all(fresh_exchange_sim, "12.50")  # +1.3 %
    # A round must be observed after the one before it (the contract's InvalidObservationTime): the
    # enclave's clock counts seconds, and real polls are NSL_PRICEFEED_DEFAULT_POLL_INTERVAL_SECONDS apart.
    await asyncio.sleep(1.05)
    clock_caught_up(nsl.w3)
    moved = await poll(ctx)

    assert first is not None
    assert unchanged is not None
    assert moved is not None
    assert (first["action"], first["round_id"], first["outcomes"]) == (
        "publish",
        1,
        {platform.chain: "confirmed"},
    )
    assert (unchanged["action"], unchanged["round_id"]) == ("unchanged", 0)
    assert (moved["action"], moved["round_id"], moved["outcomes"]) == (
        "publish",
        2,
        {platform.chain: "confirmed"},
    )
    round_id, answer, _started, updated, answered_in = nsl.feed.functions.latestRoundData().call()
    assert (round_id, answer, answered_in) == (2, 1_250_000_000, 2)
    assert nsl.feed.functions.getRoundData(1).call()[1] == 1_234_000_000
    async with platform.db.session() as session:
        sent = list(
            (await session.execute(select(PriceTransmission).order_by(PriceTransmission.round_id))).scalars()
        )
    assert [(t.chain_round_id, t.status.value) for t in sent] == [(1, "confirmed"), (2, "confirmed")]
    assert all(t.tx_hash and t.gas_used and t.fee for t in sent)
    receipt = nsl.w3.eth.get_transaction_receipt(sent[1].tx_hash)  # type: ignore[arg-type]
    assert receipt["status"] == 1
    async with platform.db.session() as session:
        recorded = await service.latest_round(session, feed.id)
    assert recorded is not None
    assert updated == recorded.observed_at  # the enclave's observation time, not the block's

"""The price feed service end to end on anvil: the worker's poll job, wired as ``nsl worker`` wires it
(``pricefeed.observe`` in the real enclave, the EVM publisher with the enclave's relayer), observes the
shipped NEO/USD feed on the exchange simulator and publishes its rounds to the deployment's
``NSLPriceFeed``, which checks the enclave's signature under the feed's registered config hash; a
deviation publishes exactly one more round. A host that rewrites the feed's sources in the database gets
an enclave-signed observation that neither the poller sends nor the contract takes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, update

from neo_service_layer.chains.evm.tx import transact
from neo_service_layer.db.base import utcnow
from neo_service_layer.devnet.exchanges import Market, SimulatorServer
from neo_service_layer.enclave.oracle.fetch import SafeFetcher
from neo_service_layer.services.pricefeed import service
from neo_service_layer.services.pricefeed.default_feeds import DEFAULT_FEEDS, pointed_at
from neo_service_layer.services.pricefeed.models import PriceFeed, PriceRound, PriceTransmission
from neo_service_layer.services.pricefeed.observation import feed_config_hash
from neo_service_layer.services.pricefeed.params import feed_config
from neo_service_layer.services.pricefeed.poller import FEED_CONFIG_NOT_REGISTERED
from neo_service_layer.services.pricefeed.service import definition_of
from neo_service_layer.worker.pricefeed_jobs import PRICEFEED_POLL_KIND, enclave_wiring, pricefeed_handlers
from tests.chains.evm.fulfil_helpers import Platform
from tests.chains.evm.helpers import assert_reverts
from tests.chains.pricefeed_helpers import clock_caught_up, price_all, simulator_fetcher
from tests.enclave.oracle.servers import OraclePKI
from tests.worker.helpers import job_context


@pytest.fixture
async def enclave_fetcher(pki: OraclePKI) -> AsyncIterator[SafeFetcher]:
    async with simulator_fetcher(pki) as fetcher:
        yield fetcher


async def neo_usd_feed(platform: Platform, sim: SimulatorServer, tmp_path: Path) -> PriceFeed:
    """The shipped NEO/USD feed on the simulator, published to the deployment's feed, whose owner has
    registered its config hash (``nsl feeds config-hash NEO/USD``, then ``setConfigHash``)."""
    settings, nsl = platform.settings(tmp_path), platform.nsl
    definition = definition_of(pointed_at(DEFAULT_FEEDS["NEO/USD"], sim.base_urls))
    config = feed_config(
        {**definition, "targets": [{"chain": "evm", "feed": nsl.feed.address}]}, settings.pricefeed
    )
    async with platform.db.transaction() as session:
        feed = await service.create_feed(session, config, utcnow())
    transact(nsl.w3, nsl.owner, nsl.feed.functions.setConfigHash(feed_config_hash(feed)))
    return feed


async def test_the_poll_job_publishes_enclave_signed_rounds_on_chain(
    platform: Platform, fresh_exchange_sim: SimulatorServer, tmp_path: Path
) -> None:
    settings = platform.settings(tmp_path)
    nsl = platform.nsl
    feed = await neo_usd_feed(platform, fresh_exchange_sim, tmp_path)
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


async def test_a_feed_rewritten_in_the_database_gets_no_round_on_chain(
    platform: Platform, fresh_exchange_sim: SimulatorServer, pki: OraclePKI, tmp_path: Path
) -> None:
    """The attack the config hash closes: the host (what a TEE defends against) rewrites the feed's
    sources with direct SQL to its own HTTPS server quoting 99.99. The enclave observes and signs that
    price — the definition it was given — but under another config hash: the poller does not send it
    (``feed_config_not_registered``), and relayed by hand the contract refuses it (NotEnclaveSigned)."""
    settings, nsl = platform.settings(tmp_path), platform.nsl
    feed = await neo_usd_feed(platform, fresh_exchange_sim, tmp_path)
    registered = feed_config_hash(feed)
    _, cert, key = pki.write(tmp_path / "evil")
    with SimulatorServer(Market(), cert=cert, key=key) as evil:
        evil.market.set_price("binance", "NEOUSDT", Decimal("99.99"))
        rewritten = [
            {"name": "binance", "adapter": "binance", "symbol": "NEOUSDT", "base_url": evil.base_url}
        ]
        async with platform.db.transaction() as session:
            await session.execute(
                update(PriceFeed).where(PriceFeed.id == feed.id).values(sources=rewritten, min_sources=1)
            )
        poll = pricefeed_handlers(enclave_wiring)[PRICEFEED_POLL_KIND]
        clock_caught_up(nsl.w3)
        result = await poll(job_context(platform.db, settings, PRICEFEED_POLL_KIND, {"feed_id": feed.id}))

    assert result is not None
    assert (result["action"], result["round_id"], result["outcomes"]) == (
        "publish",
        1,
        {platform.chain: "failed"},
    )
    async with platform.db.session() as session:
        signed = await session.get(PriceRound, (feed.id, 1))
        (sent,) = (await session.execute(select(PriceTransmission))).scalars()
        stored = await session.get(PriceFeed, feed.id)
    assert signed is not None
    assert stored is not None
    assert signed.answer == 9_999_000_000  # the enclave signed the host's price...
    observed_under = signed.envelope["result"]["config_hash"]
    assert observed_under == feed_config_hash(stored).hex() != registered.hex()  # ...under other rules
    assert sent.status.value == "failed"
    assert sent.tx_hash is None
    assert sent.detail.startswith(f"{FEED_CONFIG_NOT_REGISTERED}: ")
    assert f"0x{observed_under}" in sent.detail
    assert f"it has 0x{registered.hex()}" in sent.detail
    assert nsl.feed.functions.latestRound().call() == 0
    # Relayed by anyone, the enclave-signed report is still refused: the contract uses its own hash.
    # The poll may end a second after the block mined before it: a block past the observation first,
    # or the contract refuses the report as from the future (InvalidObservationTime) before its hash.
    clock_caught_up(nsl.w3)
    relayed = nsl.feed.functions.transmit(
        sent.chain_round_id, signed.answer, signed.observed_at, sent.signature
    )
    assert_reverts(nsl.w3, nsl.build, nsl.user, relayed, "NotEnclaveSigned")

"""``nsl devnet demo pricefeed``: move a pair's price on the devnet's exchange simulator, poll the feed
until a round observed after the move is on chain, and read it back through the example consumer.

The polls run here, as the worker's ``pricefeed.poll`` job runs them (``services.pricefeed.poller``:
observe in the enclave, record, publish), against the enclave on the settings' socket — ``nsl serve``'s
when it runs, else one started for the demo. A running worker polling the same feed is harmless: the
poller records nothing for an observation made against a stale round ("raced"), and the demo waits for
the chain, whoever published.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import httpx
from sqlalchemy import select

from neo_service_layer.chains.devnet.state import DevnetState, SimulatorRecord, devnet_dir
from neo_service_layer.config import Settings
from neo_service_layer.db.session import Database
from neo_service_layer.devnet.demo.errors import DemoNoRound, DevnetNotUp
from neo_service_layer.devnet.demo.feed_readers import FeedReader, OnChainRound, feed_reader
from neo_service_layer.devnet.platform import running_enclave
from neo_service_layer.services.pricefeed.default_feeds import DEFAULT_FEEDS
from neo_service_layer.services.pricefeed.models import PriceTransmission
from neo_service_layer.services.pricefeed.observer import EnclaveObserver
from neo_service_layer.services.pricefeed.poller import FeedPoller
from neo_service_layer.services.pricefeed.publishers import ChainPublishers
from neo_service_layer.services.pricefeed.service import get_feed

DEFAULT_PAIR: Final = "NEO/USD"
#: The default move: +5 %, over the feeds' 50 bps deviation threshold, under their 20 % circuit breaker.
DEFAULT_MOVE: Final = Decimal("1.05")
PRICE_PLACES: Final = Decimal("0.0001")
POLL_PAUSE_SECONDS: Final = 1.0
_HTTP_TIMEOUT_SECONDS: Final = 10.0


@dataclass(frozen=True, slots=True)
class PriceFeedDemo:
    """A price moved and the round that carried it to the chain, as the consumer read it."""

    chain: str  # "evm" | "n3"
    pair: str
    decimals: int
    previous_price: Decimal  # the median of the pair's markets on the simulator before the move
    price: Decimal  # what the demo set on every market of the pair
    feed: str
    consumer: str
    round: OnChainRound
    tx_hash: str | None  # the platform's transmission of the round (None: published by another poller
    block: int | None  # whose row is not in this database — never on a devnet)
    start_block: int  # the chain's height when the price moved
    seconds: float  # from the move to the round read back
    polls: int
    actions: tuple[str, ...]  # each poll's result: publish, unchanged, raced, …


def _markets(pair: str) -> list[tuple[str, str]]:
    """The (exchange, symbol) markets of ``pair``'s shipped sources (what the simulator lists)."""
    return [(s.adapter, s.symbol) for s in DEFAULT_FEEDS[pair].sources if s.symbol is not None]


async def move_price(sim: SimulatorRecord, pair: str, price: Decimal | None) -> tuple[Decimal, Decimal]:
    """Set ``pair`` to ``price`` (None: 5 % above its current median) on every market of the simulator;
    (the median before, the price set)."""
    markets = _markets(pair)
    trust = ssl.create_default_context(cafile=sim.ca_file)
    async with httpx.AsyncClient(base_url=sim.base_url, verify=trust, timeout=_HTTP_TIMEOUT_SECONDS) as http:
        snapshot = (await http.get("/_sim/state")).raise_for_status().json()
        current = [
            Decimal(item["price"])
            for item in snapshot["prices"]
            if (item["exchange"], item["symbol"]) in markets
        ]
        if not current:
            raise DevnetNotUp(f"the exchange simulator lists no market of {pair}")
        previous = statistics.median(current)
        new = (previous * DEFAULT_MOVE).quantize(PRICE_PLACES) if price is None else price
        prices = [{"exchange": e, "symbol": s, "price": str(new)} for e, s in markets]
        (await http.put("/_sim/prices", json={"prices": prices})).raise_for_status()
    return previous, new


async def _transmission(db: Database, feed_id: str, chain: str, round_id: int) -> PriceTransmission | None:
    statement = select(PriceTransmission).where(
        PriceTransmission.feed_id == feed_id,
        PriceTransmission.chain == chain,
        PriceTransmission.chain_round_id == round_id,
    )
    async with db.session(for_read=True) as session:
        return (await session.execute(statement)).scalars().first()


async def _poll_until(
    settings: Settings,
    db: Database,
    feed_id: str,
    reader: FeedReader,
    after: int,
    within: float,
    progress: Callable[[str], None],
) -> tuple[OnChainRound, list[str]]:
    """Poll the feed until the chain's latest round was observed at ``after`` or later."""
    actions: list[str] = []
    deadline = time.monotonic() + within
    async with running_enclave(settings, devnet_dir(settings.data_dir) / "enclave.log") as enclave:
        publishers = ChainPublishers(settings, db, enclave)
        try:
            poller = FeedPoller(db, EnclaveObserver(enclave), publishers)
            while True:
                try:
                    result = await poller.poll(feed_id)
                    actions.append(result.action)
                    progress(f"poll {len(actions)}: {result.action} {result.outcomes or ''}".rstrip())
                except Exception as e:  # a chain or the enclave not ready yet: the next poll tries again
                    actions.append(f"error: {e}")
                    progress(f"poll {len(actions)} failed: {e}")
                found = await reader.latest()
                if found is not None and found.observed_at >= after:
                    return found, actions
                if time.monotonic() >= deadline:
                    raise DemoNoRound(
                        f"no round observed after the move on {reader.chain_name} within {within:.0f} s "
                        f"(polls: {', '.join(actions)})"
                    )
                await asyncio.sleep(POLL_PAUSE_SECONDS)
        finally:
            await publishers.close()


async def run(
    settings: Settings,
    state: DevnetState,
    chain: str,
    *,
    pair: str = DEFAULT_PAIR,
    price: Decimal | None = None,
    within: float,
    progress: Callable[[str], None],
) -> PriceFeedDemo:
    """The demo on ``chain`` of ``state``'s devnet (see the module doc)."""
    sim = state.exchanges
    if sim is None:
        raise DevnetNotUp("this devnet has no exchange simulator (nsl devnet down, then nsl devnet up)")
    if pair not in sim.feeds:
        raise ValueError(f"the devnet's feeds are {', '.join(sim.feeds)}, not {pair!r}")
    record = state.evm if chain == "evm" else state.n3
    reader = feed_reader(chain, record, pair)
    db = Database(settings.effective_database_url)
    try:
        async with db.session(for_read=True) as session:
            feed = await get_feed(session, pair)
            feed_id, decimals = feed.id, feed.decimals
        start_block = await reader.head()
        previous, new = await move_price(sim, pair, price)
        started = time.monotonic()
        # An observation stamped at this second or later fetched the new prices (stamps are whole seconds).
        after = math.ceil(time.time())
        progress(f"{pair} moved from {previous} to {new} on every exchange; polling the feed")
        found, actions = await _poll_until(settings, db, feed_id, reader, after, within, progress)
        seconds = time.monotonic() - started
        sent = await _transmission(db, feed_id, reader.chain_name, found.round_id)
    finally:
        await reader.close()
        await db.dispose()
    return PriceFeedDemo(
        chain=chain,
        pair=pair,
        decimals=decimals,
        previous_price=previous,
        price=new,
        feed=reader.feed,
        consumer=reader.consumer,
        round=found,
        tx_hash=None if sent is None else sent.tx_hash,
        block=None if sent is None else sent.block_number,
        start_block=start_block,
        seconds=seconds,
        polls=len(actions),
        actions=tuple(actions),
    )

"""The devnet's price feeds: the exchange simulator behind them and the four shipped feeds in the
platform's database, published to the devnet's ``NSLPriceFeed`` of each pair (EVM) and its N3 feed
contract (``nsl devnet up``, docs/pricefeed.md).

The simulator serves HTTPS with a certificate of a CA issued for this devnet (``devnet/exchanges``:
``ca.pem``, ``cert.pem``, ``key.pem``); ``up`` writes that CA as the oracle fetcher's ``oracle_ca_file``
and allows private hosts, so the enclave reaches it at 127.0.0.1 and nothing else changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from sqlalchemy import select

from neo_service_layer.chains.devnet.simulator import SimulatorProcess, start_simulator
from neo_service_layer.config import Settings
from neo_service_layer.db.models import Outcome
from neo_service_layer.db.session import Database
from neo_service_layer.devnet.exchange_market import EXCHANGES
from neo_service_layer.devnet.local_tls import LocalPKI
from neo_service_layer.services.audit.chain import AuditEvent, append
from neo_service_layer.services.pricefeed.defaults import devnet_feeds, load_default_feeds
from neo_service_layer.services.pricefeed.models import PriceFeed
from neo_service_layer.services.pricefeed.observation import feed_config_hash
from neo_service_layer.services.pricefeed.service import delete_feed, get_feed

EXCHANGES_DIRNAME: Final = "exchanges"
#: The devnet CA outlives a day-long session (LocalPKI's default is a test's day).
CA_VALIDITY: Final = dt.timedelta(days=365)
RESET_ACTION: Final = "feeds.devnet_reset"


def start_devnet_simulator(base: Path, *, walk: bool = True) -> tuple[SimulatorProcess, Path]:
    """Issue the devnet's CA and certificate into ``<base>/exchanges`` and start the simulator there
    (prices moving by a random walk unless ``walk`` is False); the process and the CA file."""
    workdir = base / EXCHANGES_DIRNAME
    ca_file, cert, key = LocalPKI.issue(validity=CA_VALIDITY).write(workdir)
    return start_simulator(workdir, cert, key, ca_file, walk=walk), ca_file


def evm_pair(description: str) -> str:
    """An EVM feed's description ("NEO / USD") as the platform names the pair ("NEO/USD")."""
    return description.replace(" ", "")


async def create_devnet_feeds(
    settings: Settings,
    actor: str,
    base_url: str,
    evm_price_feeds: Mapping[str, str],
    n3_feed_contract: str | None,
) -> dict[str, bytes]:
    """The shipped feeds on the simulator at ``base_url`` with the devnet's contracts as targets, enabled;
    each pair's config hash (``feed_config_hash``: what its owner registers on each target for the
    contracts to take its rounds). A pair that has a feed already (an earlier devnet on the same
    database) is replaced, its rounds and transmissions with it: they were of chains that are gone, and
    a transmission left pending there would hold its target back (audited as ``feeds.devnet_reset``)."""
    evm_feeds = {evm_pair(description): address for description, address in evm_price_feeds.items()}
    feeds = devnet_feeds(dict.fromkeys(EXCHANGES, base_url), evm_feeds, n3_feed_contract)
    db = Database(settings.effective_database_url)
    try:
        await _reset(db, actor, list(feeds))
        await load_default_feeds(db, settings, actor, feeds, enabled=True)
        async with db.session(for_read=True) as session:
            return {pair: feed_config_hash(await get_feed(session, pair)) for pair in feeds}
    finally:
        await db.dispose()


async def _reset(db: Database, actor: str, pairs: list[str]) -> None:
    """Delete the feeds of ``pairs`` that exist, with their history; audited when there was one."""
    async with db.transaction() as session:
        found = (await session.execute(select(PriceFeed.pair).where(PriceFeed.pair.in_(pairs)))).scalars()
        removed = sorted(found)
        for pair in removed:
            await delete_feed(session, pair)
        if removed:
            event = AuditEvent(
                actor=actor,
                action=RESET_ACTION,
                resource="/v1/feeds",
                outcome=Outcome.SUCCESS,
                status_code=204,
                request_id="devnet",
                account_id=None,
                details={"pairs": removed},
            )
            await append(session, event)

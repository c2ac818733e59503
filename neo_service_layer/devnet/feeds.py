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
from typing import Any, Final

from neo_service_layer.chains.devnet.simulator import SimulatorProcess, start_simulator
from neo_service_layer.config import Settings
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import Outcome
from neo_service_layer.db.session import Database
from neo_service_layer.devnet.exchange_market import EXCHANGES
from neo_service_layer.devnet.local_tls import LocalPKI
from neo_service_layer.services.audit.chain import AuditEvent, append
from neo_service_layer.services.pricefeed.defaults import devnet_feeds, load_default_feeds
from neo_service_layer.services.pricefeed.service import update_feed

EXCHANGES_DIRNAME: Final = "exchanges"
#: The devnet CA outlives a day-long session (LocalPKI's default is a test's day).
CA_VALIDITY: Final = dt.timedelta(days=365)
RETARGET_ACTION: Final = "feeds.devnet_retarget"


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
) -> list[str]:
    """The shipped feeds on the simulator at ``base_url`` with the devnet's contracts as targets, enabled;
    the pairs. Pairs that have a feed already (an earlier devnet on the same database) are pointed at
    this simulator and these contracts (audited as ``feeds.devnet_retarget``)."""
    evm_feeds = {evm_pair(description): address for description, address in evm_price_feeds.items()}
    feeds = devnet_feeds(dict.fromkeys(EXCHANGES, base_url), evm_feeds, n3_feed_contract)
    db = Database(settings.effective_database_url)
    try:
        created = await load_default_feeds(db, settings, actor, feeds, enabled=True)
        existing = {pair: feed for pair, feed in feeds.items() if pair not in created}
        if existing:
            await _retarget(db, settings, actor, existing)
    finally:
        await db.dispose()
    return list(feeds)


async def _retarget(
    db: Database, settings: Settings, actor: str, feeds: Mapping[str, dict[str, Any]]
) -> None:
    now = utcnow()
    async with db.transaction() as session:
        for pair, definition in feeds.items():
            changes = {"sources": definition["sources"], "targets": definition["targets"], "enabled": True}
            await update_feed(session, pair, changes, settings.pricefeed, now)
        event = AuditEvent(
            actor=actor,
            action=RETARGET_ACTION,
            resource="/v1/feeds",
            outcome=Outcome.SUCCESS,
            status_code=200,
            request_id="devnet",
            account_id=None,
            details={"pairs": sorted(feeds)},
        )
        await append(session, event)

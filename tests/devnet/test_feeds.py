"""The devnet's price feeds (``devnet.feeds``): the exchange simulator as a detached process with the
devnet's own CA, and the four feeds in the platform's database — created, then replaced by the next
devnet on the same database."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from neo_service_layer.chains.devnet.processes import free_port, pid_alive
from neo_service_layer.chains.devnet.simulator import answers
from neo_service_layer.config import Settings
from neo_service_layer.db.models import AuditEntry
from neo_service_layer.db.session import Database
from neo_service_layer.devnet.feeds import RESET_ACTION, create_devnet_feeds, evm_pair, start_devnet_simulator
from neo_service_layer.devnet.local_tls import LocalPKI
from neo_service_layer.services.pricefeed.models import PriceFeed
from neo_service_layer.services.pricefeed.observation import feed_config_hash

pytestmark = pytest.mark.slow
PAIRS = ["NEO/USD", "GAS/USD", "BTC/USD", "ETH/USD"]
EVM_FEEDS = {f"{p.split('/')[0]} / USD": "0x" + f"{i + 1:040x}" for i, p in enumerate(PAIRS)}
N3_FEED = "0x" + "ab" * 20


@pytest.mark.parametrize(
    ("description", "pair"),
    [("NEO / USD", "NEO/USD"), ("BTC / USD", "BTC/USD"), ("ETH/USD", "ETH/USD")],
)
def test_evm_pair(description: str, pair: str) -> None:
    assert evm_pair(description) == pair


def test_the_simulator_runs_detached_with_the_devnet_ca(tmp_path: Path) -> None:
    simulator, ca_file = start_devnet_simulator(tmp_path)
    try:
        assert ca_file == tmp_path / "exchanges" / "ca.pem"
        assert pid_alive(simulator.pid, str(simulator.workdir))
        assert answers(simulator.base_url, ca_file)
        trust = ssl.create_default_context(cafile=str(ca_file))
        ticker = httpx.get(f"{simulator.base_url}/api/v3/ticker/24hr?symbol=NEOUSDT", verify=trust).json()
        assert ticker["lastPrice"]
        other_ca, _, _ = LocalPKI.issue().write(tmp_path / "other")
        assert not answers(simulator.base_url, other_ca)  # another CA does not vouch for it
        assert not answers(f"https://127.0.0.1:{free_port()}", ca_file)  # nothing listening
        assert not answers(simulator.base_url, tmp_path / "missing.pem")
    finally:
        simulator.stop()
    assert not pid_alive(simulator.pid)
    assert (tmp_path / "exchanges" / "exchanges.log").is_file()


async def _feeds(db: Database) -> dict[str, PriceFeed]:
    async with db.session(for_read=True) as session:
        return {f.pair: f for f in (await session.execute(select(PriceFeed))).scalars()}


async def test_devnet_feeds_are_created_then_replaced(settings: Settings, db: Database) -> None:
    hashes = await create_devnet_feeds(settings, "cli:test", "https://127.0.0.1:4000", EVM_FEEDS, N3_FEED)
    assert list(hashes) == PAIRS
    first = await _feeds(db)
    assert sorted(first) == sorted(PAIRS)
    for pair, feed in first.items():
        assert hashes[pair] == feed_config_hash(feed)
        assert feed.enabled
        assert {s["base_url"] for s in feed.sources} == {"https://127.0.0.1:4000"}
        evm_feed = EVM_FEEDS[pair.replace("/", " / ")]
        assert [(t["chain"], t.get("feed") or t.get("contract")) for t in feed.targets] == [
            ("evm", evm_feed),
            ("n3", N3_FEED),
        ]

    # The next devnet on this database: a new simulator port; the feeds of the old chains go.
    again = await create_devnet_feeds(settings, "cli:test", "https://127.0.0.1:4001", EVM_FEEDS, N3_FEED)
    second = await _feeds(db)
    assert sorted(second) == sorted(PAIRS)
    for pair, feed in second.items():
        assert again[pair] == feed_config_hash(feed) != hashes[pair]  # the sources are part of the rules
        assert feed.id != first[pair].id
        assert {s["base_url"] for s in feed.sources} == {"https://127.0.0.1:4001"}
    async with db.session(for_read=True) as session:
        actions = list((await session.execute(select(AuditEntry.action).order_by(AuditEntry.seq))).scalars())
    assert actions == ["feeds.load_defaults", RESET_ACTION, "feeds.load_defaults"]

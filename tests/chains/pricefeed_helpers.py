"""What the price feed's end-to-end tests on the chains share: the enclave's fetcher reaching the exchange
simulator, the NEO/USD markets moved together, and anvil's clock kept up with the wall clock."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Final

from web3 import Web3

from neo_service_layer.devnet.exchanges import SimulatorServer
from neo_service_layer.enclave.oracle.fetch import SafeFetcher
from neo_service_layer.enclave.oracle.policy import FetchPolicy
from tests.enclave.oracle.servers import OraclePKI

#: The shipped NEO/USD feed's markets on the simulator, by exchange.
MARKETS: Final = {"binance": "NEOUSDT", "okx": "NEO-USDT", "coingecko": "neo"}


@asynccontextmanager
async def simulator_fetcher(pki: OraclePKI) -> AsyncIterator[SafeFetcher]:
    """The enclave's fetcher for an ``enclave_fetcher`` fixture: trusts the test CA, may reach the
    simulator on 127.0.0.1."""
    policy = FetchPolicy(allow_private_hosts=True, per_host_rate_per_second=1000.0, per_host_burst=1000)
    async with SafeFetcher(policy, ssl_context=pki.client_context()) as fetcher:
        yield fetcher


def price_all(sim: SimulatorServer, price: str) -> None:
    """Every NEO/USD market of the simulator at ``price``."""
    for exchange, symbol in MARKETS.items():
        sim.market.set_price(exchange, symbol, Decimal(price))


def clock_caught_up(w3: Web3, ahead: int = 1) -> None:
    """Mine a block stamped ``ahead`` seconds past the wall clock (anvil mines only on a transaction, and
    a reverted snapshot sets its clock back), as a live chain's latest block is never far behind: the
    contract takes no observation from after its latest block (``InvalidObservationTime``)."""
    latest = int(w3.eth.get_block("latest")["timestamp"])
    w3.provider.make_request("evm_mine", [max(latest + 1, int(time.time()) + ahead)])  # type: ignore[arg-type]

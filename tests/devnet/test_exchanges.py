"""The exchange simulator against the adapters: for every exchange and every misbehaviour, what the
simulator serves over HTTPS (fetched by the enclave's own fetcher) is what the adapter expects — a
round trip proving both sides agree on each API's format — and the control API and CLI work."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from neo_service_layer.chains.devnet.processes import free_port
from neo_service_layer.devnet.exchanges import DEFAULT_PRICES, Listing, Market, Mode, SimulatorServer
from neo_service_layer.enclave.capabilities import HttpRequest, HttpResponse
from neo_service_layer.enclave.oracle.codes import OracleCode, OracleFailure
from neo_service_layer.enclave.oracle.fetch import SafeFetcher
from neo_service_layer.enclave.oracle.policy import FetchPolicy
from neo_service_layer.enclave.pricefeed.adapters import ADAPTERS, Quote, QuoteRejected, read_quote
from neo_service_layer.enclave.pricefeed.sources import SourceSpec
from neo_service_layer.services.pricefeed.default_feeds import DEFAULT_FEEDS, pointed_at
from tests.enclave.oracle.servers import OraclePKI

T = 1733489160  # 2024-12-06T12:46:00Z
PRICE = Decimal("12.3456")
VOLUME = Decimal("1234.5")
SYMBOLS = {
    "binance": "NEOUSDT",
    "coinbase": "BTC-USD",
    "kraken": "XBTUSD",
    "okx": "NEO-USDT",
    "coingecko": "neo",
}
HAS_TIME = {"binance": True, "coinbase": True, "kraken": False, "okx": True, "coingecko": True}
# The statuses the real APIs answer with: an unknown market, a refusal (rate limit / unavailable).
UNKNOWN_STATUS = {"binance": 400, "coinbase": 404, "kraken": 200, "okx": 200, "coingecko": 200}
ERROR_STATUS = {"binance": 429, "coinbase": 429, "kraken": 200, "okx": 200, "coingecko": 429}


@pytest.fixture
async def fetcher(pki: OraclePKI) -> AsyncIterator[SafeFetcher]:
    """The enclave's fetcher as the price feed uses it: trusts the test CA, may reach 127.0.0.1, hands
    back any status (the adapters read the exchanges' error bodies)."""
    policy = FetchPolicy(
        allow_private_hosts=True, fail_on_status=False, per_host_rate_per_second=1000.0, per_host_burst=1000
    )
    async with SafeFetcher(policy, ssl_context=pki.client_context()) as safe:
        yield safe


async def fetch(fetcher: SafeFetcher, source: SourceSpec) -> HttpResponse:
    url = ADAPTERS[source.adapter].request_url(source)
    return await fetcher.fetch(HttpRequest(method="GET", url=url, timeout_seconds=10.0, max_bytes=65536))


def listed(sim: SimulatorServer, exchange: str) -> SourceSpec:
    sim.market.set_price(exchange, SYMBOLS[exchange], PRICE, time=T, volume=VOLUME)
    return sim.source(exchange, SYMBOLS[exchange])


EXCHANGES = [pytest.param(name, id=name) for name in SYMBOLS]


@pytest.mark.parametrize("exchange", EXCHANGES)
@pytest.mark.parametrize(
    ("mode", "expected_time"),
    [pytest.param(Mode.NORMAL, T, id="normal"), pytest.param(Mode.STALE, T - 3600, id="stale")],
)
async def test_a_quote_round_trips(
    fresh_exchange_sim: SimulatorServer, fetcher: SafeFetcher, exchange: str, mode: Mode, expected_time: int
) -> None:
    source = listed(fresh_exchange_sim, exchange)
    fresh_exchange_sim.market.misbehave(exchange, mode)
    response = await fetch(fetcher, source)
    assert response.status == 200
    quote = ADAPTERS[exchange].parse(response.body, source)
    # Kraken's ticker carries no time: a stale Kraken quote cannot be told from a fresh one.
    assert quote == Quote(PRICE, expected_time if HAS_TIME[exchange] else None, VOLUME)


@pytest.mark.parametrize("exchange", EXCHANGES)
@pytest.mark.parametrize(
    ("mode", "status", "code"),
    [
        pytest.param(Mode.ZERO, 200, "zero", id="zero"),
        pytest.param(Mode.NEGATIVE, 200, "negative", id="negative"),
        pytest.param(Mode.ABSURD, 200, "absurd", id="absurd"),
        pytest.param(Mode.MALFORMED, 200, "malformed", id="malformed"),
        pytest.param(Mode.HTTP_500, 500, "exchange_error", id="http-500"),
        pytest.param(Mode.ERROR, None, "exchange_error", id="error"),
    ],
)
async def test_each_misbehaviour_is_refused_with_its_code(
    fresh_exchange_sim: SimulatorServer,
    fetcher: SafeFetcher,
    exchange: str,
    mode: Mode,
    status: int | None,
    code: str,
) -> None:
    source = listed(fresh_exchange_sim, exchange)
    fresh_exchange_sim.market.misbehave(exchange, mode)
    response = await fetch(fetcher, source)
    assert response.status == (ERROR_STATUS[exchange] if status is None else status)
    with pytest.raises(QuoteRejected) as raised:
        ADAPTERS[exchange].parse(response.body, source)
    assert raised.value.code == code
    with pytest.raises(QuoteRejected) as read:
        read_quote(source, response.status, response.body)
    assert read.value.code == code


@pytest.mark.parametrize("exchange", EXCHANGES)
async def test_an_unlisted_market_is_an_unknown_symbol(
    fresh_exchange_sim: SimulatorServer, fetcher: SafeFetcher, exchange: str
) -> None:
    source = listed(fresh_exchange_sim, exchange)
    fresh_exchange_sim.market.delist(exchange, SYMBOLS[exchange])
    response = await fetch(fetcher, source)
    assert response.status == UNKNOWN_STATUS[exchange]
    with pytest.raises(QuoteRejected) as raised:
        read_quote(source, response.status, response.body)
    assert raised.value.code == "unknown_symbol"


async def test_a_mode_can_hit_one_market_only(
    fresh_exchange_sim: SimulatorServer, fetcher: SafeFetcher
) -> None:
    market = fresh_exchange_sim.market
    market.misbehave("okx", Mode.ZERO, symbol="BTC-USDT")
    btc = await fetch(fetcher, fresh_exchange_sim.source("okx", "BTC-USDT"))
    neo = await fetch(fetcher, fresh_exchange_sim.source("okx", "NEO-USDT"))
    with pytest.raises(QuoteRejected, match="zero"):
        ADAPTERS["okx"].parse(btc.body, fresh_exchange_sim.source("okx", "BTC-USDT"))
    assert (
        ADAPTERS["okx"].parse(neo.body, fresh_exchange_sim.source("okx", "NEO-USDT")).price
        == DEFAULT_PRICES["NEO/USD"]
    )


async def test_slow_answers_late_and_a_short_timeout_gives_up(
    fresh_exchange_sim: SimulatorServer, fetcher: SafeFetcher
) -> None:
    source = listed(fresh_exchange_sim, "binance")
    fresh_exchange_sim.market.misbehave("binance", Mode.SLOW)
    fresh_exchange_sim.market.slow_seconds = 0.4
    started = time.monotonic()
    response = await fetch(fetcher, source)
    assert time.monotonic() - started >= 0.4
    assert ADAPTERS["binance"].parse(response.body, source).price == PRICE
    url = ADAPTERS["binance"].request_url(source)
    with pytest.raises(OracleFailure) as raised:
        await fetcher.fetch(HttpRequest(method="GET", url=url, timeout_seconds=0.1, max_bytes=65536))
    assert raised.value.code is OracleCode.Timeout


async def test_the_time_is_now_unless_set(fresh_exchange_sim: SimulatorServer, fetcher: SafeFetcher) -> None:
    source = fresh_exchange_sim.source("coinbase", "BTC-USD")
    before = int(time.time())
    quote = ADAPTERS["coinbase"].parse((await fetch(fetcher, source)).body, source)
    assert quote.quote_time is not None
    assert before <= quote.quote_time <= int(time.time())
    assert quote.price == DEFAULT_PRICES["BTC/USD"]


async def test_coingecko_answers_several_ids_and_leaves_out_unknown_ones(
    fresh_exchange_sim: SimulatorServer, pki: OraclePKI
) -> None:
    url = f"{fresh_exchange_sim.base_url}/api/v3/simple/price"
    params = {"ids": "bitcoin,nocoin,ethereum", "vs_currencies": "usd", "include_last_updated_at": "true"}
    async with httpx.AsyncClient(verify=pki.client_context()) as client:
        answer = (await client.get(url, params=params)).json()
        assert set(answer) == {"bitcoin", "ethereum"}
        assert set(answer["bitcoin"]) == {"usd", "last_updated_at"}  # no volume: not asked for
        bare = (await client.get(url, params={"ids": "bitcoin", "vs_currencies": "eur"})).json()
        assert bare == {"bitcoin": {}}


async def test_the_default_feeds_markets_are_all_listed(
    fresh_exchange_sim: SimulatorServer, fetcher: SafeFetcher
) -> None:
    for pair, feed in DEFAULT_FEEDS.items():
        local = pointed_at(feed, fresh_exchange_sim.base_urls)
        responses = await asyncio.gather(*(fetch(fetcher, source) for source in local.sources))
        for source, response in zip(local.sources, responses, strict=True):
            assert ADAPTERS[source.adapter].parse(response.body, source).price == DEFAULT_PRICES[pair], source


async def test_the_control_api(
    fresh_exchange_sim: SimulatorServer, pki: OraclePKI, fetcher: SafeFetcher
) -> None:
    base = fresh_exchange_sim.base_url
    async with httpx.AsyncClient(base_url=base, verify=pki.client_context()) as client:
        update = {"prices": [{"exchange": "kraken", "symbol": "XBTUSD", "price": "101234.5", "volume": "42"}]}
        assert (await client.put("/_sim/prices", json=update)).status_code == 200
        modes = {"modes": [{"exchange": "binance", "mode": "negative"}], "stale_seconds": 60}
        state = (await client.put("/_sim/modes", json=modes)).json()
        assert {"exchange": "binance", "symbol": None, "mode": "negative"} in state["modes"]
        assert state["stale_seconds"] == 60
        kraken = fresh_exchange_sim.source("kraken", "XBTUSD")
        assert ADAPTERS["kraken"].parse((await fetch(fetcher, kraken)).body, kraken) == Quote(
            Decimal("101234.5"), None, Decimal(42)
        )
        binance = fresh_exchange_sim.source("binance", "BTCUSDT")
        with pytest.raises(QuoteRejected, match="negative"):
            ADAPTERS["binance"].parse((await fetch(fetcher, binance)).body, binance)
        for bad in (
            {"prices": [{"exchange": "bitstamp", "symbol": "X", "price": "1"}]},
            {"prices": [{"exchange": "okx", "symbol": "X", "price": "one"}]},
            {"modes": [{"exchange": "okx", "mode": "sleepy"}]},
            {"prices": [], "extra": 1},
        ):
            path = "/_sim/prices" if "prices" in bad else "/_sim/modes"
            assert (await client.put(path, json=bad)).status_code == 422, bad
        reset = (await client.post("/_sim/reset")).json()
        assert reset["modes"] == []
        assert (
            ADAPTERS["binance"].parse((await fetch(fetcher, binance)).body, binance).price
            == DEFAULT_PRICES["BTC/USD"]
        )


def test_the_walk_moves_a_pair_together_and_stays_positive() -> None:
    market = Market(
        {
            ("binance", "NEOUSDT"): Listing(Decimal("10"), group="NEO/USD"),
            ("okx", "NEO-USDT"): Listing(Decimal("10"), group="NEO/USD"),
            ("okx", "BTC-USDT"): Listing(Decimal("0.00000001")),
        }
    )
    rng = random.Random(7)
    prices = set()
    for _ in range(50):
        market.walk(rng, max_bps=100)
        neo = [market.listing(e, s) for e, s in (("binance", "NEOUSDT"), ("okx", "NEO-USDT"))]
        assert neo[0] == neo[1]
        prices.add(neo[0].price if neo[0] else None)
        tiny = market.listing("okx", "BTC-USDT")
        assert tiny is not None
        assert tiny.price > 0
    assert len(prices) > 10  # it moved
    market.reset()
    assert market.listing("binance", "NEOUSDT") == Listing(Decimal("10"), group="NEO/USD")


def test_unknown_exchanges_and_modes_are_refused() -> None:
    market = Market({})
    with pytest.raises(ValueError, match="unknown exchange"):
        market.set_price("bitstamp", "BTCUSD", Decimal(1))
    with pytest.raises(ValueError, match="sleepy"):
        market.misbehave("okx", "sleepy")


@pytest.mark.slow
def test_the_cli_serves_and_walks(pki: OraclePKI, tmp_path: Path) -> None:
    _, cert, key = pki.write(tmp_path)
    port = free_port()
    command = [sys.executable, "-m", "neo_service_layer.devnet.exchanges", "--port", str(port)]
    command += [
        "--cert",
        str(cert),
        "--key",
        str(key),
        "--walk",
        "--walk-interval",
        "0.05",
        "--walk-bps",
        "50",
    ]
    log = tmp_path / "sim.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(
            base_url=f"https://127.0.0.1:{port}", verify=pki.client_context(), timeout=2
        ) as client:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, log.read_text()
                try:
                    first = client.get("/api/v3/ticker/24hr", params={"symbol": "NEOUSDT"}).json()[
                        "lastPrice"
                    ]
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the simulator did not start"
                    time.sleep(0.1)
            seen = {first}
            while len(seen) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
                seen.add(client.get("/api/v3/ticker/24hr", params={"symbol": "NEOUSDT"}).json()["lastPrice"])
            assert len(seen) >= 3  # the walk moves the price
    finally:
        process.terminate()
        # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught (exit by that signal).
        assert process.wait(10) in (0, -signal.SIGTERM), log.read_text()

"""A local exchange simulator: Binance, Coinbase Exchange, Kraken, OKX and CoinGecko on one HTTPS
server, at the real APIs' paths and query parameters and in their real formats
(:mod:`.exchange_formats`), from a price table that a test or a devnet operator changes while it runs.

- :class:`Market` (:mod:`.exchange_market`) is the table, keyed by (exchange, symbol): settable
  prices (Decimal), timestamps (``None``: "now" at each answer) and volumes, and misbehaviour on
  purpose per exchange (or per market): a malformed body, a stale timestamp, a zero, negative or
  absurd price, HTTP 500, the exchange's own error body, a slow answer (:class:`Mode`). Markets not
  in the table answer as the exchange answers an unknown symbol. Optionally the prices drift by a
  random walk (:meth:`Market.walk`), so that a devnet's feeds move.
- :func:`create_app` serves it, with a control API: ``GET /_sim/state``, ``PUT /_sim/prices``,
  ``PUT /_sim/modes``, ``POST /_sim/reset``.
- :class:`SimulatorServer` runs it in a thread of this process (tests: the ``exchange_sim`` fixture);
  ``python -m neo_service_layer.devnet.exchanges --port P --cert C --key K [--walk]`` as a process
  (``nsl devnet``).

Point a source at it with ``base_url`` (``SimulatorServer.source`` or ``default_feeds.pointed_at``); the
enclave's fetcher must trust its certificate and may reach 127.0.0.1 (``NSL_ORACLE_CA_FILE``,
``NSL_ORACLE_ALLOW_PRIVATE_HOSTS``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Final, Self

import uvicorn
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from neo_service_layer.devnet.exchange_formats import FORMATS, Answer, CoinGeckoFormat
from neo_service_layer.devnet.exchange_market import (
    DEFAULT_PRICES,
    DEFAULT_WALK_BPS,
    DEFAULT_WALK_INTERVAL,
    EXCHANGES,
    Listing,
    Market,
    Mode,
)
from neo_service_layer.enclave.pricefeed.sources import SourceSpec

__all__ = [
    "DEFAULT_PRICES",
    "EXCHANGES",
    "Listing",
    "Market",
    "Mode",
    "SimulatorServer",
    "answer",
    "create_app",
    "main",
]

# --- answering ----------------------------------------------------------------------------------


async def answer(market: Market, exchange: str, symbol: str) -> Answer:
    """``exchange``'s answer for ``symbol``, as the mode wants it (waiting first when slow)."""
    mode = market.mode(exchange, symbol)
    if mode is Mode.SLOW:
        await asyncio.sleep(market.slow_seconds)
    fmt = FORMATS[exchange]
    if mode is Mode.HTTP_500:
        return fmt.server_error()
    if mode is Mode.ERROR:
        return fmt.error()
    tick = market.tick(exchange, symbol)
    if tick is None:
        return fmt.unknown(symbol)
    status, body = fmt.ticker(symbol, tick)
    return (status, body[: len(body) // 2]) if mode is Mode.MALFORMED else (status, body)


async def coingecko_answer(
    market: Market, ids: Sequence[str], vs: Sequence[str], *, volume: bool, updated: bool
) -> Answer:
    """``/api/v3/simple/price``: every listed id of ``ids`` (others are left out, as CoinGecko does);
    a coin without a usd price when ``usd`` is not asked for. The first id's mode rules the answer."""
    fmt = FORMATS["coingecko"]
    assert isinstance(fmt, CoinGeckoFormat)
    mode = market.mode("coingecko", ids[0] if ids else None)
    if mode is Mode.SLOW:
        await asyncio.sleep(market.slow_seconds)
    if mode is Mode.HTTP_500:
        return fmt.server_error()
    if mode is Mode.ERROR:
        return fmt.error()
    members = []
    for coin in dict.fromkeys(ids):
        tick = market.tick("coingecko", coin)
        if tick is not None:
            entry = fmt.entry(tick, volume=volume, updated=updated) if "usd" in vs else "{}"
            members.append(f'"{coin}":{entry}')
    body = ("{" + ",".join(members) + "}").encode()
    return 200, body[: len(body) // 2] if mode is Mode.MALFORMED else body


def _response(result: Answer) -> Response:
    status, body = result
    return Response(body, status_code=status, media_type="application/json")


class PriceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    exchange: str
    symbol: Annotated[str, Field(min_length=1, max_length=64)]
    price: Decimal
    time: int | None = None
    volume: Decimal | None = None


class PricesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prices: list[PriceUpdate]


class ModeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    exchange: str
    mode: Mode
    symbol: str | None = None


class ModesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    modes: list[ModeUpdate] = Field(default_factory=list)
    stale_seconds: Annotated[int, Field(ge=0)] | None = None
    slow_seconds: Annotated[float, Field(ge=0, le=600)] | None = None


def create_app(
    market: Market, *, walk: tuple[float, int] | None = None, seed: int | None = None
) -> Starlette:
    """The simulator over ``market``. ``walk``: (interval seconds, max bps) to move prices while it runs."""

    def query(request: Request, name: str) -> str:
        return request.query_params.get(name, "")

    async def binance(request: Request) -> Response:
        return _response(await answer(market, "binance", query(request, "symbol")))

    async def coinbase(request: Request) -> Response:
        return _response(await answer(market, "coinbase", request.path_params["product_id"]))

    async def kraken(request: Request) -> Response:
        return _response(await answer(market, "kraken", query(request, "pair")))

    async def okx(request: Request) -> Response:
        return _response(await answer(market, "okx", query(request, "instId")))

    async def coingecko(request: Request) -> Response:
        ids = [coin.strip() for coin in query(request, "ids").split(",") if coin.strip()]
        vs = [currency.strip() for currency in query(request, "vs_currencies").split(",")]
        volume, updated = (
            query(request, "include_24hr_vol") == "true",
            query(request, "include_last_updated_at") == "true",
        )
        return _response(await coingecko_answer(market, ids, vs, volume=volume, updated=updated))

    async def state(_request: Request) -> Response:
        return _json_response(200, market.snapshot())

    async def put_prices(request: Request) -> Response:
        try:
            body = PricesBody.model_validate_json(await request.body())
            for item in body.prices:
                market.set_price(item.exchange, item.symbol, item.price, time=item.time, volume=item.volume)
        except (ValidationError, ValueError) as e:
            return _json_response(422, {"detail": str(e)})
        return _json_response(200, market.snapshot())

    async def put_modes(request: Request) -> Response:
        try:
            body = ModesBody.model_validate_json(await request.body())
            for item in body.modes:
                market.misbehave(item.exchange, item.mode, symbol=item.symbol)
        except (ValidationError, ValueError) as e:
            return _json_response(422, {"detail": str(e)})
        if body.stale_seconds is not None:
            market.stale_seconds = body.stale_seconds
        if body.slow_seconds is not None:
            market.slow_seconds = body.slow_seconds
        return _json_response(200, market.snapshot())

    async def reset(_request: Request) -> Response:
        market.reset()
        return _json_response(200, market.snapshot())

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(_walk(market, *walk, random.Random(seed))) if walk else None  # noqa: S311
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    routes = [
        Route("/api/v3/ticker/24hr", binance),
        Route("/products/{product_id}/ticker", coinbase),
        Route("/0/public/Ticker", kraken),
        Route("/api/v5/market/ticker", okx),
        Route("/api/v3/simple/price", coingecko),
        Route("/_sim/state", state),
        Route("/_sim/prices", put_prices, methods=["PUT"]),
        Route("/_sim/modes", put_modes, methods=["PUT"]),
        Route("/_sim/reset", reset, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def _json_response(status: int, document: object) -> Response:
    return Response(json.dumps(document), status_code=status, media_type="application/json")


async def _walk(market: Market, interval: float, max_bps: int, rng: random.Random) -> None:
    while True:
        await asyncio.sleep(interval)
        market.walk(rng, max_bps)


# --- running it ---------------------------------------------------------------------------------

START_TIMEOUT: Final = 15.0


class SimulatorServer:
    """The simulator over HTTPS on ``host`` in a thread of this process: ``start()``/``stop()`` (or
    ``with``). ``market`` is the handle to change it; :attr:`base_url` (one server for every exchange)
    and :meth:`source` point sources at it."""

    def __init__(
        self,
        market: Market,
        *,
        cert: Path,
        key: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        walk: tuple[float, int] | None = None,
    ) -> None:
        self.market = market
        self.host = host
        self._socket = socket.create_server((host, port))
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            create_app(market, walk=walk),
            ssl_certfile=str(cert),
            ssl_keyfile=str(key),
            log_level="warning",
            access_log=False,
            ws="none",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def base_urls(self) -> dict[str, str]:
        """Every simulated exchange's base URL (the same server): what ``default_feeds.pointed_at`` takes."""
        return dict.fromkeys(EXCHANGES, self.base_url)

    def source(self, exchange: str, symbol: str, name: str | None = None) -> SourceSpec:
        """A source of ``exchange``'s ``symbol`` on this simulator."""
        return SourceSpec(name=name or exchange, adapter=exchange, symbol=symbol, base_url=self.base_url)

    def start(self) -> Self:
        """Serve in a daemon thread; returns once it accepts connections (RuntimeError if it does not)."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="exchange-sim", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the exchange simulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread; safe to call twice."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(START_TIMEOUT)
            self._thread = None
        self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: Iterable[str] | None = None) -> None:
    """``python -m neo_service_layer.devnet.exchanges --port P --cert C --key K [--walk]``: serve
    until SIGTERM/SIGINT, with the default feeds' markets at :data:`DEFAULT_PRICES`."""
    parser = argparse.ArgumentParser(
        prog="python -m neo_service_layer.devnet.exchanges", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", type=Path, required=True, help="PEM certificate chain (leaf first)")
    parser.add_argument("--key", type=Path, required=True, help="PEM private key")
    parser.add_argument("--walk", action="store_true", help="move the prices by a random walk")
    parser.add_argument(
        "--walk-interval", type=float, default=DEFAULT_WALK_INTERVAL, help="seconds between steps"
    )
    parser.add_argument("--walk-bps", type=int, default=DEFAULT_WALK_BPS, help="largest step, basis points")
    args = parser.parse_args(None if argv is None else list(argv))
    walk = (args.walk_interval, args.walk_bps) if args.walk else None
    uvicorn.run(
        create_app(Market(), walk=walk),
        host=args.host,
        port=args.port,
        ssl_certfile=str(args.cert),
        ssl_keyfile=str(args.key),
        log_level="warning",
        access_log=False,
        ws="none",
        timeout_graceful_shutdown=1,
    )


if __name__ == "__main__":
    main()

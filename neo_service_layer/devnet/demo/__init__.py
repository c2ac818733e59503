"""``nsl devnet demo``: one request from an example consumer on the running devnet, its callback awaited
and shown with how to verify it (issue 14 item 9, "a newcomer's first ten minutes").

``formats`` (pure: oracle payloads and results, key compression, the verification command), ``evm`` and
``n3`` (send from the devnet's funded account, await the gateway's ``Fulfilled`` event), ``wait`` (the
poll loop, explained by the platform's fulfilment row), ``report`` (what is printed). The platform
itself (``nsl serve``) must be running: the demo only sends and watches.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

from neo_service_layer.chains.devnet.stack import status
from neo_service_layer.chains.devnet.state import ChainRecord, load_state
from neo_service_layer.config import Settings
from neo_service_layer.devnet.demo.errors import DevnetNotUp
from neo_service_layer.devnet.demo.formats import DEFAULT_ORACLE_FILTER, DEFAULT_ORACLE_URL
from neo_service_layer.devnet.demo.report import (
    FunctionsDemo,
    OracleDemo,
    RandomnessDemo,
    functions_lines,
    oracle_lines,
    pricefeed_lines,
    randomness_lines,
)
from neo_service_layer.devnet.demo.wait import DEFAULT_TIMEOUT_SECONDS

if TYPE_CHECKING:
    from neo_service_layer.devnet.demo.feed_demo import PriceFeedDemo

__all__ = [
    "CHAINS",
    "DEFAULT_ORACLE_FILTER",
    "DEFAULT_ORACLE_URL",
    "DEFAULT_TIMEOUT_SECONDS",
    "FunctionsDemo",
    "OracleDemo",
    "RandomnessDemo",
    "functions",
    "functions_lines",
    "oracle",
    "oracle_lines",
    "pricefeed",
    "pricefeed_lines",
    "randomness",
    "randomness_lines",
]

CHAINS = ("evm", "n3")
SEED_BYTES = 16
DEFAULT_PAIR = "NEO/USD"


def _record(settings: Settings, chain: str) -> ChainRecord:
    """The running devnet's record of ``chain``; :class:`DevnetNotUp` unless both chains answer."""
    if chain not in CHAINS:
        raise ValueError(f"chain must be one of {CHAINS}, got {chain!r}")
    state = load_state(settings.data_dir)
    if state is None:
        raise DevnetNotUp(f"no devnet under {settings.data_dir} (nsl devnet up starts one)")
    if not status(settings).healthy:
        raise DevnetNotUp("the devnet is partly down (nsl devnet status; nsl devnet down, then up)")
    return state.evm if chain == "evm" else state.n3


async def randomness(
    settings: Settings,
    chain: str,
    *,
    seed: bytes | None = None,
    verify_on_chain: bool = True,
    within: float = DEFAULT_TIMEOUT_SECONDS,
) -> RandomnessDemo:
    """Request randomness from the example RandomnessConsumer on ``chain`` ("evm" | "n3") and wait for
    the callback (``seed``: random when None). Raises :class:`DevnetNotUp`, ``DemoNoFulfilment``
    (nothing in ``within`` s), ``DemoFulfilmentFailed`` (the platform gave up), chain errors."""
    record = _record(settings, chain)
    seed = os.urandom(SEED_BYTES) if seed is None else seed
    # Imported here: the chain libraries take a second to import, and only the chosen one is needed.
    if chain == "evm":
        from neo_service_layer.devnet.demo.evm import EvmDemo

        return await EvmDemo(record, settings).randomness(
            seed, verify_on_chain=verify_on_chain, within=within
        )
    from neo_service_layer.devnet.demo.n3 import N3Demo

    return await N3Demo(record, settings).randomness(seed, verify_on_chain=verify_on_chain, within=within)


async def oracle(
    settings: Settings,
    chain: str,
    *,
    url: str = DEFAULT_ORACLE_URL,
    filter_: str | None = DEFAULT_ORACLE_FILTER,
    extract: str | None = None,
    within: float = DEFAULT_TIMEOUT_SECONDS,
) -> OracleDemo:
    """Ask the example OracleConsumer on ``chain`` for ``url`` with ``filter_`` (None or "": the whole
    body; ``extract``, EVM only: a typed value such as ``"uint256:8"``) and wait for the callback;
    errors as :func:`randomness`, ValueError for an ``extract`` on N3 or one the enclave refuses."""
    if extract and chain != "evm":
        raise ValueError("--extract is for EVM consumers (an N3 callback gets the filter's JSON text)")
    record = _record(settings, chain)
    if chain == "evm":
        from neo_service_layer.devnet.demo.evm import EvmDemo

        return await EvmDemo(record, settings).oracle(url, filter_, within=within, extract=extract)
    from neo_service_layer.devnet.demo.n3 import N3Demo

    return await N3Demo(record, settings).oracle(url, filter_, within=within)


async def functions(
    settings: Settings, chain: str, *, args: str | None = None, within: float = DEFAULT_TIMEOUT_SECONDS
) -> FunctionsDemo:
    """Call the demo function (deployed in the system account if missing, the chain's example
    FunctionsConsumer allowed) from that consumer with ``args`` (JSON text; None: ``{"a": 2, "b": 40}``),
    pinned to its source, and wait for the callback; errors as :func:`randomness`."""
    from neo_service_layer.devnet.demo.function_demo import DEFAULT_ARGS, demo_function
    from neo_service_layer.enclave.functions.onchain import consumer_key

    record = _record(settings, chain)
    consumer = consumer_key(f"{chain}:{record.network}", record.contracts["examples"]["FunctionsConsumer"])
    function = await demo_function(settings, consumer)
    text = DEFAULT_ARGS if args is None else args
    if chain == "evm":
        from neo_service_layer.devnet.demo.evm import EvmDemo

        return await EvmDemo(record, settings).functions(function, text, within=within)
    from neo_service_layer.devnet.demo.n3 import N3Demo

    return await N3Demo(record, settings).functions(function, text, within=within)


def _quiet(step: str) -> None:
    """The default ``progress``: say nothing."""


async def pricefeed(
    settings: Settings,
    chain: str,
    *,
    pair: str = DEFAULT_PAIR,
    price: Decimal | None = None,
    within: float = DEFAULT_TIMEOUT_SECONDS,
    progress: Callable[[str], None] = _quiet,
) -> PriceFeedDemo:
    """Move ``pair`` to ``price`` (None: 5 % up) on the devnet's exchange simulator, poll its feed until a
    round observed after the move is on ``chain``, read it back through the example PriceFeedConsumer.
    Raises :class:`DevnetNotUp` (also: a devnet without the simulator), ``DemoNoRound`` (nothing in
    ``within`` s), ValueError for a pair the devnet has no feed of."""
    _record(settings, chain)  # both chains (and the simulator) answer
    state = load_state(settings.data_dir)
    if state is None:
        raise DevnetNotUp(f"no devnet under {settings.data_dir} (nsl devnet up starts one)")
    from neo_service_layer.devnet.demo import feed_demo

    return await feed_demo.run(
        settings, state, chain, pair=pair, price=price, within=within, progress=progress
    )

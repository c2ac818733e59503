"""Wait for a fulfilment on chain; on the way, ask the platform's database what it did with the request.

The chain decides (a ``Fulfilled`` event is the only success). The database only explains a wait: the
fulfiller's ``chain_fulfilments`` row (chains/fulfilments.py) says whether ``nsl serve`` saw the
request at all, is still sending, or gave up with a stable reason (``service_not_supported_yet``, …),
which then ends the wait at once instead of at the timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from neo_service_layer.chains.fulfilments import ChainFulfilment, FulfilmentStatus
from neo_service_layer.config import Settings
from neo_service_layer.db.session import Database
from neo_service_layer.devnet.demo.errors import DemoFulfilmentFailed, DemoNoFulfilment

DEFAULT_TIMEOUT_SECONDS = 60.0
DEFAULT_POLL_SECONDS = 0.5
#: How often the platform's row is read (a failure ends the wait early).
DEFAULT_EXPLAIN_SECONDS = 2.0


async def platform_row(settings: Settings, chain: str, key: str) -> ChainFulfilment | None:
    """The fulfiller's row for ``key`` on ``chain`` (``evm:<id>`` / ``n3:<magic>``), or None: none yet,
    or the database cannot be read (this is only an explanation; the chain decides)."""
    db = Database(settings.effective_database_url)
    try:
        async with db.transaction() as session:
            return await session.get(ChainFulfilment, (chain, key))
    except Exception:  # a missing or locked database only loses the explanation
        return None
    finally:
        await db.dispose()


def _failed(row: ChainFulfilment) -> DemoFulfilmentFailed:
    detail = f": {row.failure_detail}" if row.failure_detail else ""
    return DemoFulfilmentFailed(f"nsl serve gave up on the request: {row.failure_reason}{detail}")


def _timed_out(row: ChainFulfilment | None, within: float) -> DemoNoFulfilment:
    if row is None:
        return DemoNoFulfilment(
            f"no fulfilment after {within:.0f} s: is `nsl serve` running (on this data directory)?"
        )
    return DemoNoFulfilment(
        f"no fulfilment after {within:.0f} s; nsl serve saw the request and its fulfilment is "
        f"{row.status} (tx {row.tx_hash or 'not sent yet'}): try again with a longer --timeout"
    )


async def wait_for[T](
    poll: Callable[[], Awaitable[T | None]],
    settings: Settings,
    chain: str,
    key: str,
    *,
    within: float = DEFAULT_TIMEOUT_SECONDS,
    interval: float = DEFAULT_POLL_SECONDS,
    explain_every: float = DEFAULT_EXPLAIN_SECONDS,
) -> T:
    """``poll()`` until it returns something; :class:`DemoFulfilmentFailed` as soon as the platform
    records a failure (its row is read every ``explain_every`` s), :class:`DemoNoFulfilment` after
    ``within`` seconds."""
    deadline = time.monotonic() + within
    next_row = time.monotonic() + explain_every
    while True:
        found = await poll()
        if found is not None:
            return found
        now = time.monotonic()
        if now >= next_row or now >= deadline:
            row = await platform_row(settings, chain, key)
            if row is not None and row.status is FulfilmentStatus.FAILED:
                raise _failed(row)
            if now >= deadline:
                raise _timed_out(row, within)
            next_row = now + explain_every
        await asyncio.sleep(interval)

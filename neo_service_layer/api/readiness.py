"""Readiness checks for ``/readyz``, run at most once per ``readiness_cache_seconds`` per process.

``/readyz`` is unauthenticated and each run costs database queries, an enclave ping and one JSON-RPC
call per configured chain: uncached, anyone could spend an RPC provider's quota (or load the database)
by hitting it in a loop. :class:`ReadinessProbe` keeps the last result for the TTL, counted from when
the run finished, and callers that arrive while a run is under way wait for that run instead of
starting their own (single flight). Failures are cached like successes, so a dead dependency is not
hammered either; a result is at most one TTL old.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from neo_service_layer.api.ratelimit import RedisRateLimiter
from neo_service_layer.chains.health import chain_readiness
from neo_service_layer.db.migrate import current_revision, head_revision
from neo_service_layer.errors import NSLError

if TYPE_CHECKING:  # the state holds a probe: a runtime import would be circular
    from neo_service_layer.api.state import AppState

Checks = dict[str, dict[str, Any]]


async def check_dependencies(state: AppState) -> Checks:
    """One entry per dependency: database (migrated), enclave, Redis and each chain when configured."""
    checks: Checks = {}
    try:
        async with state.db.session() as session:
            await session.execute(text("SELECT 1"))
        revision = await current_revision(state.db)
        head = head_revision()
        checks["database"] = {"ok": revision == head, "revision": revision, "expected": head}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    try:
        ping = await state.enclave.ping()
        checks["enclave"] = {"ok": True, "tee": ping.tee, "backend": ping.backend}
    except NSLError as exc:
        checks["enclave"] = {"ok": False, "error": exc.code}
    if isinstance(state.limiter, RedisRateLimiter):
        try:
            checks["redis"] = {"ok": await state.limiter.ping()}
        except Exception as exc:
            checks["redis"] = {"ok": False, "error": type(exc).__name__}
    checks.update(await chain_readiness(state.settings))
    return checks


@dataclass(frozen=True, slots=True)
class _Result:
    checks: Checks
    until: float


class ReadinessProbe:
    """Caches ``check()`` for ``ttl_seconds`` and shares one run between concurrent callers."""

    def __init__(
        self,
        check: Callable[[], Awaitable[Checks]],
        ttl_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        # Guarded by the event loop: set and cleared without an await in between the test and the set.
        self._last: _Result | None = None
        self._running: asyncio.Task[Checks] | None = None
        self.runs = 0  # how many times the checks actually ran (tests and curiosity)

    async def checks(self) -> Checks:
        """The latest result if it is younger than the TTL, else the result of a (shared) new run."""
        last = self._last
        if last is not None and self._clock() < last.until:
            return last.checks
        if self._running is None:
            self._running = asyncio.create_task(self._run(), name="nsl-readiness")
        # shield: a caller that goes away (client disconnect) does not cancel the run the others wait for.
        return await asyncio.shield(self._running)

    async def _run(self) -> Checks:
        try:
            self.runs += 1
            checks = await self._check()
            self._last = _Result(checks, self._clock() + self.ttl_seconds)
            return checks
        finally:
            self._running = None

    async def close(self) -> None:
        """Cancel a run still under way (at shutdown). Safe to call twice."""
        running, self._running = self._running, None
        if running is not None:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)

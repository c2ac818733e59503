"""Per destination host: how many requests at once (a semaphore) and how often (a token bucket).

So that one contract cannot make the oracle hammer a site (or make the site ban the oracle's address
for everyone). Both live in one map bounded by ``max_hosts``: an idle host (no request in flight, bucket
full again) is forgotten first, which loses nothing since a fresh entry is identical.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from neo_service_layer.enclave.oracle.codes import OracleCode, OracleFailure

_EPSILON = 1e-9


class _Host:
    """One host's limits. ``lock`` guards the bucket's waiting order: one waiter at a time takes its
    token (FIFO), so waiters do not all wake and race for the same token."""

    def __init__(self, concurrency: int, burst: int, now: float) -> None:
        self.slots = asyncio.Semaphore(concurrency)
        self.concurrency = concurrency
        self.lock = asyncio.Lock()
        self.tokens = float(burst)
        self.stamp = now
        self.users = 0  # requests holding or waiting for this entry: it may not be forgotten

    def refill(self, now: float, rate: float, burst: int) -> None:
        self.tokens = min(float(burst), self.tokens + (now - self.stamp) * rate)
        self.stamp = now

    def idle(self, now: float, rate: float, burst: int) -> bool:
        self.refill(now, rate, burst)
        return self.users == 0 and self.tokens >= burst


class HostLimits:
    """``async with limits.slot(host):`` waits for a token of ``host``'s bucket, then for one of its
    ``concurrency`` slots. Waiting is bounded by the caller's own timeout (the fetch's total)."""

    def __init__(
        self,
        *,
        concurrency: int,
        rate_per_second: float,
        burst: int,
        max_hosts: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._concurrency = concurrency
        self._rate = rate_per_second
        self._burst = burst
        self._max_hosts = max_hosts
        self._clock = clock
        # Guarded by running on one event loop: entries are added and evicted without awaiting.
        self._hosts: OrderedDict[str, _Host] = OrderedDict()

    def __len__(self) -> int:
        return len(self._hosts)

    def _entry(self, host: str) -> _Host:
        now = self._clock()
        entry = self._hosts.get(host)
        if entry is not None:
            self._hosts.move_to_end(host)
            return entry
        if len(self._hosts) >= self._max_hosts:
            idle = [name for name, other in self._hosts.items() if other.idle(now, self._rate, self._burst)]
            if not idle:
                raise OracleFailure(OracleCode.Error, "the oracle is busy with too many hosts at once")
            del self._hosts[idle[0]]
        entry = self._hosts[host] = _Host(self._concurrency, self._burst, now)
        return entry

    async def _token(self, entry: _Host) -> None:
        async with entry.lock:
            while True:
                entry.refill(self._clock(), self._rate, self._burst)
                if entry.tokens >= 1 - _EPSILON:  # (float sums: 0.1 s at 10/s may give 0.9999...)
                    entry.tokens = max(0.0, entry.tokens - 1)
                    return
                await asyncio.sleep((1 - entry.tokens) / self._rate)

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Hold one request's place for ``host`` (a token spent, a slot held until the block ends)."""
        entry = self._entry(host)
        entry.users += 1
        try:
            await self._token(entry)
            async with entry.slots:
                yield
        finally:
            entry.users -= 1

"""Per-host limits of the oracle's fetcher: a semaphore and a token bucket per host, in a bounded map."""

from __future__ import annotations

import asyncio

import pytest

from neo_service_layer.enclave.oracle.codes import OracleCode, OracleFailure
from neo_service_layer.enclave.oracle.limits import HostLimits


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _limits(clock: Clock, *, concurrency: int = 2, burst: int = 2, max_hosts: int = 8) -> HostLimits:
    return HostLimits(
        concurrency=concurrency, rate_per_second=10, burst=burst, max_hosts=max_hosts, clock=clock
    )


async def test_concurrency_per_host_is_bounded_and_hosts_are_independent() -> None:
    limits = _limits(Clock(), concurrency=1, burst=10)
    entered: list[str] = []
    async with limits.slot("a.test"):
        waiting = asyncio.create_task(_enter(limits, "a.test", entered))
        async with limits.slot("b.test"):  # another host is not held up
            entered.append("b.test")
        await asyncio.sleep(0.01)
        assert entered == ["b.test"]
    await waiting
    assert entered == ["b.test", "a.test"]


async def _enter(limits: HostLimits, host: str, entered: list[str]) -> None:
    async with limits.slot(host):
        entered.append(host)


async def test_the_bucket_refills_at_its_rate() -> None:
    clock = Clock()
    limits = _limits(clock, burst=2)
    for _ in range(2):
        async with limits.slot("a.test"):
            pass
    entered: list[str] = []
    third = asyncio.create_task(_enter(limits, "a.test", entered))
    await asyncio.sleep(0.02)
    assert entered == []  # the burst is spent and the clock stands still
    clock.now += 0.1  # one token at 10/s
    await asyncio.wait_for(third, 1)
    assert entered == ["a.test"]


async def test_idle_hosts_are_forgotten_and_busy_ones_refuse_new_hosts() -> None:
    clock = Clock()
    limits = _limits(clock, max_hosts=2, burst=1)
    async with limits.slot("a.test"), limits.slot("b.test"):
        with pytest.raises(OracleFailure) as caught:
            async with limits.slot("c.test"):
                pass
        assert caught.value.code is OracleCode.Error
    clock.now += 1  # buckets full again: both idle
    async with limits.slot("c.test"):
        pass
    assert len(limits) == 2

"""The short-lived cache of authenticated credentials: never serves an expired credential or a stale entry."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from neo_service_layer.api.auth_cache import MAX_ENTRIES, AuthCache
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import Role
from neo_service_layer.errors import Unauthenticated
from neo_service_layer.services.accounts.principal import AccountView, Caller, Principal

WHO = Caller(
    Principal("acc_1", Role.VIEWER, ("*",), "key_1", "api_key:key_1"),
    AccountView("acc_1", "one", is_system=False, disabled=False, created_at=utcnow()),
)


def test_a_hit_returns_the_caller() -> None:
    cache = AuthCache(60)
    cache.put("nsl_a_secret", WHO, None)
    assert cache.get("nsl_a_secret") == WHO
    assert cache.get("nsl_a_other") is None


def test_the_plaintext_is_not_kept() -> None:
    cache = AuthCache(60)
    cache.put("nsl_a_secret", WHO, None)
    assert "nsl_a_secret" not in repr(vars(cache))


@pytest.mark.parametrize(
    ("ttl", "expires_in", "hit"),
    [
        (60, None, True),
        (60, timedelta(minutes=5), True),
        (60, timedelta(seconds=-1), False),
        (0, None, False),
        (-1, None, False),
    ],
    ids=["no-expiry", "expires-later", "credential-expired", "disabled", "negative-ttl"],
)
def test_entries_respect_both_expiries(ttl: float, expires_in: timedelta | None, hit: bool) -> None:
    cache = AuthCache(ttl)
    cache.put("k", WHO, None if expires_in is None else utcnow() + expires_in)
    assert (cache.get("k") == WHO) is hit


def test_entries_expire_after_the_ttl() -> None:
    cache = AuthCache(1e-9)
    cache.put("k", WHO, None)
    assert cache.get("k") is None


def test_clear_and_the_size_bound() -> None:
    cache = AuthCache(60)
    for n in range(MAX_ENTRIES):
        cache.put(f"k{n}", WHO, None)
    assert cache.get("k0") == WHO
    cache.put("one-too-many", WHO, None)  # the cache is emptied rather than grown without bound
    assert cache.get("k0") is None
    assert cache.get("one-too-many") == WHO
    cache.clear()
    assert cache.get("one-too-many") is None


class _Loads:
    """A load that counts its calls and returns (or raises) once released."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.error = error

    async def __call__(self) -> tuple[Caller, datetime | None]:
        self.calls += 1
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return WHO, None


async def test_concurrent_misses_share_one_load_and_cache_it() -> None:
    cache, load = AuthCache(60), _Loads()
    waiters = [asyncio.create_task(cache.get_or_load("k", load)) for _ in range(16)]
    await asyncio.sleep(0)
    load.release.set()
    assert await asyncio.gather(*waiters) == [WHO] * 16
    assert load.calls == 1
    assert cache.get("k") == WHO
    assert await cache.get_or_load("k", _Loads()) == WHO  # a hit: no load


async def test_a_failed_load_fails_its_waiters_and_is_not_cached() -> None:
    cache, load = AuthCache(60), _Loads(Unauthenticated("revoked", reason="revoked"))
    waiters = [asyncio.create_task(cache.get_or_load("k", load)) for _ in range(4)]
    await asyncio.sleep(0)
    load.release.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(result, Unauthenticated) for result in results)
    assert load.calls == 1
    assert cache.get("k") is None
    again = _Loads()
    again.release.set()
    assert await cache.get_or_load("k", again) == WHO  # the next miss reads again
    assert again.calls == 1


async def test_a_load_begun_before_clear_is_not_cached() -> None:
    # clear() is how a revocation through this process takes effect at once: a read that began before it
    # may have seen the key still valid, so it answers its own waiters but is not kept.
    cache, load = AuthCache(60), _Loads()
    waiter = asyncio.create_task(cache.get_or_load("k", load))
    await asyncio.sleep(0)
    cache.clear()
    load.release.set()
    assert await waiter == WHO
    assert cache.get("k") is None


async def test_a_cancelled_waiter_does_not_cancel_the_others_load() -> None:
    cache, load = AuthCache(60), _Loads()
    first = asyncio.create_task(cache.get_or_load("k", load))
    second = asyncio.create_task(cache.get_or_load("k", load))
    await asyncio.sleep(0)
    first.cancel()
    load.release.set()
    assert await second == WHO
    assert first.cancelled()
    assert load.calls == 1

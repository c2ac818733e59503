"""The short-lived cache of authenticated credentials: never serves an expired credential or a stale entry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from neo_service_layer.api.auth_cache import MAX_ENTRIES, AuthCache
from neo_service_layer.db.base import utcnow
from neo_service_layer.db.models import Role
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

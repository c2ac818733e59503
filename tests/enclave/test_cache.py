"""The enclave's bounded LRU cache (``enclave/cache.py``)."""

from __future__ import annotations

import pytest

from neo_service_layer.enclave.cache import LruCache


def test_keeps_the_most_recently_used_entries() -> None:
    cache: LruCache[str, bytes] = LruCache(2)
    cache.put("a", b"1")
    cache.put("b", b"2")
    assert cache.get("a") == b"1"  # now the most recently used: "b" goes first
    cache.put("c", b"3")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"1", None, b"3")
    assert len(cache) == 2


def test_clear_drops_everything() -> None:
    cache: LruCache[str, bytes] = LruCache(4)
    cache.put("a", b"1")
    cache.clear()
    assert cache.get("a") is None
    assert len(cache) == 0


def test_repr_shows_no_values() -> None:
    cache: LruCache[str, bytes] = LruCache(4)
    cache.put("a", b"secret-value")
    assert "secret-value" not in repr(cache)


@pytest.mark.parametrize("size", [0, -1], ids=["zero", "negative"])
def test_size_must_be_positive(size: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        LruCache[str, bytes](size)

"""A bounded, thread-safe LRU map for what the enclave derives from host-held blobs (AMKs, key objects).

The enclave keeps no state between requests (``ops.py``): what it caches is only ever a pure function of
the request's own inputs (a sealed AMK opened, a wrapped key version unwrapped and loaded), keyed by
those inputs, so a hit returns exactly what recomputing would and a miss recomputes. Failures are never
cached: a blob that does not open is refused every time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable


class LruCache[K: Hashable, V]:
    """At most ``size`` entries; the least recently used one is dropped first. Its repr shows no values."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("cache size must be at least 1")
        self._size = size
        # Guards _entries. Handlers may run crypto in worker threads (asyncio.to_thread), so the event
        # loop alone does not serialize access.
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, V] = OrderedDict()

    def __repr__(self) -> str:
        return f"LruCache(size={self._size}, entries={len(self)})"

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        """The value cached for ``key`` (now the most recently used), or None."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        """Cache ``value`` for ``key``, dropping the least recently used entries beyond the size."""
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Drop every entry (their values are garbage once no request holds them)."""
        with self._lock:
            self._entries.clear()

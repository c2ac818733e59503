"""A short-lived cache of authenticated API keys, so a hot key costs no database read per request.

Entries live ``auth_cache_seconds`` (default 2 s). Revoking or rotating a key, or disabling an account,
through this process clears the cache at once; other replicas notice within the TTL. Expiry is checked
on every hit. An entry is the caller: the principal and its account as read with it, so both are
equally fresh.

Concurrent misses of one credential share one read (``get_or_load``): when a hot key's entry expires,
every request in flight would otherwise read the key at once, each in its own session, and past the
pool's size open (and then close) connections of their own. A read that began before ``clear`` (a
revocation through this process) answers its waiters but is not cached.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from neo_service_layer.db.base import utcnow
from neo_service_layer.services.accounts.principal import Caller

MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class _Entry:
    caller: Caller
    credential_expires_at: datetime | None
    cached_until: float


class AuthCache:
    def __init__(self, ttl_seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        # Guarded by the event loop: no awaits inside get/put/clear.
        self._entries: dict[bytes, _Entry] = {}
        self._loading: dict[bytes, asyncio.Task[Caller]] = {}
        self._generation = 0  # bumped by clear: a read begun before it is not cached

    @staticmethod
    def _key(credential: str) -> bytes:
        # Never keep the plaintext credential as a dict key in memory longer than needed.
        return hashlib.sha256(credential.encode()).digest()

    def get(self, credential: str) -> Caller | None:
        if self.ttl_seconds <= 0:
            return None
        entry = self._entries.get(self._key(credential))
        if entry is None or entry.cached_until < self._clock():
            return None
        if entry.credential_expires_at is not None and entry.credential_expires_at <= utcnow():
            return None
        return entry.caller

    def put(self, credential: str, caller: Caller, expires_at: datetime | None) -> None:
        if self.ttl_seconds <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[self._key(credential)] = _Entry(caller, expires_at, self._clock() + self.ttl_seconds)

    def clear(self) -> None:
        self._entries.clear()
        self._generation += 1

    async def get_or_load(
        self, credential: str, load: Callable[[], Awaitable[tuple[Caller, datetime | None]]]
    ) -> Caller:
        """The cached caller of ``credential``, else the one ``load`` returns (with the credential's own
        expiry), cached; concurrent misses of one credential share one ``load``, and its error."""
        cached = self.get(credential)
        if cached is not None:
            return cached
        key = self._key(credential)
        loading = self._loading.get(key)
        if loading is None:
            # A task of its own: a waiter that is cancelled (its client gone) cancels nobody else's read.
            reading = self._load(key, credential, load, self._generation)
            loading = asyncio.create_task(reading, name="nsl-auth-load")
            self._loading[key] = loading
        return await asyncio.shield(loading)

    async def _load(
        self,
        key: bytes,
        credential: str,
        load: Callable[[], Awaitable[tuple[Caller, datetime | None]]],
        generation: int,
    ) -> Caller:
        try:
            caller, expires_at = await load()
        finally:
            del self._loading[key]
        if generation == self._generation:
            self.put(credential, caller, expires_at)
        return caller

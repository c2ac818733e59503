"""A short-lived cache of authenticated API keys, so a hot key costs no database read per request.

Entries live ``auth_cache_seconds`` (default 2 s). Revoking or rotating a key, or disabling an account,
through this process clears the cache at once; other replicas notice within the TTL. Expiry is checked
on every hit. An entry is the caller: the principal and its account as read with it, so both are
equally fresh.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
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

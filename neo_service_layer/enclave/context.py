"""What an op handler gets: the enclave's identity, sealer, backend and report, key helpers, and the
capabilities that reach beyond the enclave (``capabilities.py``: an HTTP fetcher, a sandbox).

One ``EnclaveContext`` lives as long as the enclave process; handlers share it. Two bounded caches
(``cache.py``) spare repeated work on the same host-held blobs: recently opened account master keys
(AMKs), so that a burst of operations on one account unseals its AMK once, and recently used key
versions, unwrapped and loaded into their library key objects (``handlers/keys.py`` keys and fills it).
"""

from __future__ import annotations

import hashlib
import os
from typing import Final

from neo_service_layer.enclave.cache import LruCache
from neo_service_layer.enclave.capabilities import (
    HttpFetcher,
    SandboxRunner,
    UnconfiguredFetcher,
    UnconfiguredSandbox,
)
from neo_service_layer.enclave.crypto.keys import LoadedKey
from neo_service_layer.enclave.crypto.keytypes import KeyType
from neo_service_layer.enclave.identity import Identity, SignaturePair
from neo_service_layer.enclave.schemas import AttestationReport
from neo_service_layer.enclave.sealing import PURPOSE_AMK, Sealer
from neo_service_layer.enclave.tee.base import TeeBackend

AMK_BYTES: Final = 32
DEFAULT_AMK_CACHE_SIZE: Final = 1024
DEFAULT_KEY_CACHE_SIZE: Final = 1024
# (account id, key id, version, key type, AMK version, sealed AMK, wrapped material): every input of
# unwrapping and loading a key version, the blobs as themselves (handlers/keys.py).
type KeyVersionCacheKey = tuple[str, str, int, KeyType, int, bytes, bytes]


def amk_context(account_id: str, version: int) -> str:
    """The sealing context of an AMK: ``"<account_id>:<version>"`` (account ids contain no colon)."""
    if ":" in account_id or version < 1:
        raise ValueError("invalid account id or AMK version")
    return f"{account_id}:{version}"


class EnclaveContext:
    """The process-wide state handlers use. Holds key material: its repr shows public parts only."""

    def __init__(
        self,
        *,
        identity: Identity,
        sealer: Sealer,
        backend: TeeBackend,
        report: AttestationReport,
        fetcher: HttpFetcher | None = None,
        sandbox: SandboxRunner | None = None,
        amk_cache_size: int = DEFAULT_AMK_CACHE_SIZE,
        key_cache_size: int = DEFAULT_KEY_CACHE_SIZE,
    ) -> None:
        self.identity = identity
        self.sealer = sealer
        self.backend = backend
        self.report = report
        # Without them, an op that needs the network or a sandbox fails with capability_unavailable.
        self.fetcher: HttpFetcher = fetcher or UnconfiguredFetcher()
        self.sandbox: SandboxRunner = sandbox or UnconfiguredSandbox()
        self._amks: LruCache[tuple[bytes, str, int], bytes] = LruCache(amk_cache_size)
        self.key_versions: LruCache[KeyVersionCacheKey, LoadedKey] = LruCache(key_cache_size)

    def __repr__(self) -> str:
        return f"EnclaveContext(backend={self.backend.name}, identity={self.identity!r})"

    @property
    def measurement(self) -> str:
        return self.report.measurement

    def sign(self, message: bytes) -> SignaturePair:
        return self.identity.sign(message)

    def new_amk(self, account_id: str, version: int) -> bytes:
        """A fresh 256-bit AMK for ``(account_id, version)``, returned sealed (the host stores it)."""
        key = os.urandom(AMK_BYTES)
        return self.sealer.seal(PURPOSE_AMK, amk_context(account_id, version), key)

    def open_amk(self, account_id: str, version: int, sealed: bytes) -> bytes:
        """The AMK inside ``sealed``; UnsealFailed if it is not this account's AMK of this version.

        Cached by (blob hash, account, version): the account and version are part of the key, so a
        blob opened for one account never comes back out of the cache for another.
        """
        cache_key = (hashlib.sha256(sealed).digest(), account_id, version)
        cached = self._amks.get(cache_key)
        if cached is not None:
            return cached
        key = self.sealer.open(PURPOSE_AMK, amk_context(account_id, version), sealed)
        self._amks.put(cache_key, key)
        return key

    def clear_caches(self) -> None:
        """Forget every cached AMK and key version (the enclave stops serving: ``main.run_enclave``)."""
        self._amks.clear()
        self.key_versions.clear()

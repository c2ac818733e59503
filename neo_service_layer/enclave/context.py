"""What an op handler gets: the enclave's identity, sealer, backend and report, key helpers, and the
capabilities that reach beyond the enclave (``capabilities.py``: an HTTP fetcher, a sandbox).

One ``EnclaveContext`` lives as long as the enclave process; handlers share it. The account master key
(AMK) cache keeps recently opened AMKs so that a burst of operations on one account unseals its AMK once.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from typing import Final

from neo_service_layer.enclave.capabilities import (
    HttpFetcher,
    SandboxRunner,
    UnconfiguredFetcher,
    UnconfiguredSandbox,
)
from neo_service_layer.enclave.identity import Identity, SignaturePair
from neo_service_layer.enclave.schemas import AttestationReport
from neo_service_layer.enclave.sealing import PURPOSE_AMK, Sealer
from neo_service_layer.enclave.tee.base import TeeBackend

AMK_BYTES: Final = 32
DEFAULT_AMK_CACHE_SIZE: Final = 1024


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
    ) -> None:
        self.identity = identity
        self.sealer = sealer
        self.backend = backend
        self.report = report
        # Without them, an op that needs the network or a sandbox fails with capability_unavailable.
        self.fetcher: HttpFetcher = fetcher or UnconfiguredFetcher()
        self.sandbox: SandboxRunner = sandbox or UnconfiguredSandbox()
        self._amk_cache_size = amk_cache_size
        # Guards _amks. Handlers may run crypto in worker threads (asyncio.to_thread), so the event
        # loop alone does not serialize access.
        self._amk_lock = threading.Lock()
        self._amks: OrderedDict[tuple[bytes, str, int], bytes] = OrderedDict()

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
        with self._amk_lock:
            cached = self._amks.get(cache_key)
            if cached is not None:
                self._amks.move_to_end(cache_key)
                return cached
        key = self.sealer.open(PURPOSE_AMK, amk_context(account_id, version), sealed)
        with self._amk_lock:
            self._amks[cache_key] = key
            while len(self._amks) > self._amk_cache_size:
                self._amks.popitem(last=False)
        return key

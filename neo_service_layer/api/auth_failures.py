"""Failed authentication made visible: counted, logged, and audited in aggregate.

Every credential the API refuses (unknown, revoked or expired API key, a key of a disabled account, a
malformed key, a bad or expired JWT, a missing credential, a wrong ``/metrics`` token) is:

- counted in ``nsl_auth_failures_total{credential, reason}``: both labels come from small fixed sets,
  never from what the caller sent, so a flood cannot grow the metric's cardinality;
- logged (``auth_failed``) with the reason, the client address and the *subject*: the key's public
  prefix (``nsl_<prefix>``, see ``services.accounts.api_keys.split_key``), ``jwt:<kid>`` for a token
  whose header names a well-formed ``kid``, else the credential kind. The secret part of a key and
  the token itself are never read into any of these;
- aggregated into one audit entry per (credential, subject, client address, minute) carrying the
  count per reason. A window holds at most ``max_keys`` distinct keys; the failures beyond them fold
  into one ``other`` bucket, so a flood of distinct bad keys from many addresses costs at most
  ``max_keys + 1`` entries per minute and bounded memory, while every failure is still counted.

The API process flushes each minute once it has ended (and everything on shutdown) through the
group-commit audit writer. Each replica aggregates its own failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import jwt
from prometheus_client import Counter as MetricCounter

from neo_service_layer.db.models import Outcome
from neo_service_layer.errors import NSLError, Unauthenticated
from neo_service_layer.logging import get_logger
from neo_service_layer.services.accounts.api_keys import split_key
from neo_service_layer.services.audit.chain import AuditEvent
from neo_service_layer.services.audit.writer import AuditSink

log = get_logger("nsl.api.auth")

WINDOW_SECONDS = 60
AUDIT_ACTION = "auth.failed"
AUDIT_ACTOR = "unauthenticated"
OTHER = "other"
# What a caller presented (the ``credential`` label).
API_KEY = "api_key"
JWT = "jwt"
NO_CREDENTIAL = "none"
METRICS_TOKEN = "metrics_token"  # noqa: S105 - a label value, not a secret
# The failure reasons (the ``reason`` label), from ``Unauthenticated.reason`` and its subclasses.
REASONS = frozenset({"missing", "malformed", "unknown", "revoked", "expired", "account_disabled", "invalid"})
# A JWT's kid is whatever the caller put in the header: kept only if it is short and harmless.
_SAFE_KID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# How long after a window's end the flusher wakes, so that the last failures of the window are in.
_FLUSH_DELAY_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class AuthFailure:
    """One refused credential: what kind, why, by whom (public subject) and from where."""

    credential: str
    reason: str
    subject: str
    client: str


def subject_of(credential: str, presented: str | None) -> str:
    """What a failure is filed under: a key's public prefix, ``jwt:<kid>``, or the credential kind."""
    if presented:
        if credential == API_KEY:
            with contextlib.suppress(Unauthenticated):
                return split_key(presented)
        elif credential == JWT:
            with contextlib.suppress(jwt.PyJWTError):
                kid = jwt.get_unverified_header(presented).get("kid")
                if isinstance(kid, str) and _SAFE_KID.fullmatch(kid):
                    return f"jwt:{kid}"
    return credential


def failure_of(error: Unauthenticated, credential: str, presented: str | None, client: str) -> AuthFailure:
    reason = error.reason if error.reason in REASONS else "invalid"
    return AuthFailure(credential, reason, subject_of(credential, presented), client)


_Key = tuple[str, str, str]  # credential, subject, client


@dataclass(slots=True)
class _Window:
    start: int
    counts: dict[_Key, Counter[str]] = field(default_factory=dict)


class AuthFailureMonitor:
    """Counts, logs and aggregates failures; one per API process. ``start``/``stop`` are idempotent."""

    def __init__(
        self,
        counter: MetricCounter,
        sink: AuditSink,
        *,
        max_keys: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._counter = counter
        self._sink = sink
        self.max_keys = max_keys
        self.clock = clock
        # Guarded by the event loop: record() never awaits, and flush() detaches windows before awaiting.
        self._windows: dict[int, _Window] = {}
        self._task: asyncio.Task[None] | None = None

    def record(self, failure: AuthFailure) -> None:
        """Count, log and aggregate one failure (no I/O: the audit entry is written when the minute ends)."""
        self._counter.labels(failure.credential, failure.reason).inc()
        # A request without any credential is routine (a browser, a health checker): not a warning.
        emit = log.info if failure.reason == "missing" else log.warning
        emit(
            "auth_failed",
            credential=failure.credential,
            reason=failure.reason,
            subject=failure.subject,
            client=failure.client,
        )
        start = int(self.clock()) // WINDOW_SECONDS * WINDOW_SECONDS
        window = self._windows.get(start)
        if window is None:
            window = self._windows[start] = _Window(start)
        key: _Key = (failure.credential, failure.subject, failure.client)
        if key not in window.counts and len(window.counts) >= self.max_keys:
            key = (OTHER, OTHER, OTHER)
        window.counts.setdefault(key, Counter())[failure.reason] += 1

    @property
    def pending(self) -> int:
        """Aggregate entries not yet written (for tests and metrics)."""
        return sum(len(window.counts) for window in self._windows.values())

    async def flush(self, *, everything: bool = False) -> int:
        """Write the audit entries of every ended window (of all, with ``everything``); return how many.

        A window whose entries cannot be written is dropped with an error log rather than kept: memory
        stays bounded while the database is down, and the failures are still in the metric and the logs.
        """
        now = self.clock()
        ended = [s for s in self._windows if everything or s + WINDOW_SECONDS <= now]
        events = [
            _event(window.start, key, reasons)
            for window in (self._windows.pop(start) for start in sorted(ended))
            for key, reasons in window.counts.items()
        ]
        if not events:
            return 0
        results = await asyncio.gather(*(self._sink.append(e) for e in events), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            code = failed[0].code if isinstance(failed[0], NSLError) else type(failed[0]).__name__
            log.error("auth_failure_audit_failed", entries=len(failed), code=code)
        return len(events) - len(failed)

    async def start(self) -> None:
        """Start flushing each window shortly after it ends (a second call does nothing)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="nsl-auth-failure-audit")

    async def stop(self) -> None:
        """Stop the flusher and write what is left, the current window included (safe to call twice)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush(everything=True)

    async def _run(self) -> None:
        while True:
            now = self.clock()
            next_end = (int(now) // WINDOW_SECONDS + 1) * WINDOW_SECONDS
            await asyncio.sleep(next_end - now + _FLUSH_DELAY_SECONDS)
            await self.flush()


def _event(start: int, key: _Key, reasons: Counter[str]) -> AuditEvent:
    credential, subject, client = key
    window_start = datetime.fromtimestamp(start, UTC)
    return AuditEvent(
        actor=AUDIT_ACTOR,
        action=AUDIT_ACTION,
        resource=subject,
        outcome=Outcome.DENIED,
        status_code=401,
        request_id=f"authfail_{start}",
        details={
            "credential": credential,
            "client": client,
            "window_start": window_start.isoformat(),
            "window_seconds": WINDOW_SECONDS,
            "count": sum(reasons.values()),
            "reasons": dict(sorted(reasons.items())),
        },
    )

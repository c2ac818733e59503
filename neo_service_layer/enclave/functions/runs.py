"""A run request and its result, as the enclave's functions op will sign them."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from neo_service_layer.enclave.functions.limits import RunLimits


class RunStatus(enum.StrEnum):
    """How a run ended; stored and shown as is (never renamed)."""

    SUCCEEDED = "succeeded"
    #: The function threw, its promise never settled, or its result is not JSON (cyclic, BigInt).
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    MEMORY_EXCEEDED = "memory_exceeded"
    OUTPUT_TOO_LARGE = "output_too_large"
    #: The sandbox process died for another reason (killed by a signal, broke the protocol): replaced.
    CRASHED = "crashed"


@dataclass(frozen=True, slots=True)
class RunRequest:
    """``source`` is the body of an async function; ``args`` and ``secrets`` are JSON (secrets: the granted
    values only, by name). ``tenant`` (an account id) is passed on to the fetcher's per-tenant bounds."""

    source: str
    args: Any = None
    secrets: Mapping[str, str] = field(default_factory=dict)
    limits: RunLimits = field(default_factory=RunLimits)
    tenant: str = ""


@dataclass(frozen=True, slots=True)
class RunError:
    """A JavaScript error: its name, message and JavaScript stack (never a host traceback)."""

    name: str
    message: str
    stack: str = ""


@dataclass(frozen=True, slots=True)
class RunResult:
    """``result`` is the returned value as JSON text (``succeeded`` only); ``logs`` what ``console``
    captured, cut at the log limit (``logs_truncated``); ``duration_ms`` measured by the enclave."""

    status: RunStatus
    result: str | None = None
    error: RunError | None = None
    logs: str = ""
    logs_truncated: bool = False
    fetches: int = 0
    duration_ms: float = 0.0
    memory_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class PoolStats:
    """A sandbox pool's state: processes it keeps (``size``), those idle now, those replaced since it
    started (after a limit breach or a crash), and what its processes report of their seccomp filter."""

    size: int
    idle: int
    replaced: int
    seccomp: str


@dataclass(frozen=True, slots=True)
class SyntaxCheck:
    """A source compiled without running: ``ok``, or the first error with its 1-based ``line`` and
    ``column`` in the source (None when the error has no position, e.g. the check ran out of time)."""

    ok: bool
    message: str | None = None
    line: int | None = None
    column: int | None = None

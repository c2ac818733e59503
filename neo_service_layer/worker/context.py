"""What a job handler sees and may raise, and how workers name themselves."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from neo_service_layer.config import Settings
from neo_service_layer.db.session import Database
from neo_service_layer.worker.queue import ClaimedJob

MAX_WORKER_ID_CHARS = 100  # jobs.lease_owner and leases.owner are String(100)


@dataclass(frozen=True, slots=True)
class JobContext:
    """The job being run and what a handler needs to do it.

    Handlers open their own short transactions on ``db``. On SQLite a process has one connection,
    so a handler that holds a session for long also delays this worker's lease heartbeats.
    Delivery is at-least-once: a handler must be safe to run again for the same job.
    """

    job: ClaimedJob
    db: Database
    settings: Settings
    worker_id: str
    log: structlog.stdlib.BoundLogger


# A handler returns a JSON-serializable result (stored on the job) or None.
Handler = Callable[[JobContext], Awaitable[dict[str, Any] | None]]


class PermanentJobError(Exception):
    """Raised by a handler when retrying cannot help (a malformed payload): the job goes dead at once.

    ``code`` is stable (``chain_not_configured``, a fulfilment's failure reason, …) and stored on the job
    (``last_error_code``) apart from the human-readable ``detail`` (``last_error``).
    """

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def new_worker_id(role: str = "worker") -> str:
    """A process-unique owner name for leases: ``<role>:<host>:<pid>:<random>``.

    The random part tells apart two processes that reuse a pid (a restarted container).
    """
    host = socket.gethostname()[:60]
    return f"{role}:{host}:{os.getpid()}:{secrets.token_hex(4)}"[:MAX_WORKER_ID_CHARS]

"""The single audit-writer process of ``nsl api --workers N`` on SQLite, as the supervisor runs it.

The workers hand the entries they group-commit to it over a Unix socket (``services.audit.relay``):
one process holds SQLite's one write lock, so batches are full and the workers do not queue for the lock
(docs/performance.md, "Fifth round"; on PostgreSQL the workers append their own batches:
``api.server.needs_audit_writer``). The supervisor (``api.workers.Workers``) starts it before the
workers and tells them its socket through ``NSL_AUDIT_RELAY_SOCKET``, health-checks it with a ping
frame, replaces it if it dies or hangs (the workers fail closed meanwhile and reconnect by themselves),
and stops it only after every worker has drained, so that every answered request's entry is committed.

The socket lives in a directory of its own created with mode 0700 (``tempfile.mkdtemp``): only the
service user can connect, as only it can write the log through the database.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import shutil
import signal
import socket
import tempfile
import time
from multiprocessing.process import BaseProcess
from pathlib import Path

import uvloop

from neo_service_layer.api.orphans import stop_when_orphaned
from neo_service_layer.config import Settings
from neo_service_layer.logging import configure_logging, get_logger
from neo_service_layer.services.audit.relay_frames import ANSWER, COMMITTED, encode_ping
from neo_service_layer.services.audit.relay_server import serve_audit_writer

log = get_logger("nsl.api.audit_writer")
#: The environment variable that tells the workers where the writer listens (``audit.relay_socket``).
RELAY_SOCKET_ENV = "NSL_AUDIT_RELAY_SOCKET"
SOCKET_NAME = "audit.sock"
# How long a stopping writer may take to commit what it holds before it is killed.
STOP_TIMEOUT_SECONDS = 30.0
# A writer that dies young is replaced after a delay that doubles from the first to the last (see
# RestartBackoff); one that served this long before it died counts as healthy: replaced at once.
FIRST_RESTART_DELAY_SECONDS = 0.5
MAX_RESTART_DELAY_SECONDS = 30.0
HEALTHY_LIFETIME_SECONDS = 60.0


def run_audit_writer(path: str) -> None:  # pragma: no cover - runs in the spawned process
    """The writer process's body: settings loaded as the workers load them, the writer on ``path``."""
    # Ctrl-C and a closed terminal signal the whole process group: the workers drain on them, and the
    # writer must outlive that drain. Only its supervisor's SIGTERM (after the workers) stops it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    stop_when_orphaned()
    settings = Settings.load()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(serve_audit_writer(settings, Path(path)), loop_factory=uvloop.new_event_loop)


def ping(path: Path, timeout: float) -> bool:
    """Whether a writer listens on ``path`` and answers a ping within ``timeout`` seconds."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(encode_ping(0))
            answer = b""
            while len(answer) < ANSWER.size:
                chunk = sock.recv(ANSWER.size - len(answer))
                if not chunk:
                    return False
                answer += chunk
    except OSError:  # no socket yet, refused, or timed out
        return False
    return ANSWER.unpack(answer) == (0, COMMITTED)


class RestartBackoff:
    """How long to wait before replacing a writer that died: not at all after a healthy life or the
    first early death, then ``first``, doubling for each further early death, at most ``most``.

    A writer that cannot serve (a setting it refuses, a socket directory gone) dies as soon as it starts;
    replaced at once every time, it would be respawned twice a second forever, each spawn a second of
    CPU taken from the workers. The workers fail closed (503) either way until one answers."""

    def __init__(
        self,
        *,
        first: float = FIRST_RESTART_DELAY_SECONDS,
        most: float = MAX_RESTART_DELAY_SECONDS,
        healthy_lifetime: float = HEALTHY_LIFETIME_SECONDS,
    ) -> None:
        self._first = first
        self._most = most
        self._healthy_lifetime = healthy_lifetime
        self._early_deaths = 0

    def delay_after(self, lived_seconds: float) -> float:
        """The delay before the next writer, for one that died after ``lived_seconds``."""
        if lived_seconds >= self._healthy_lifetime:
            self._early_deaths = 0
        self._early_deaths += 1
        if self._early_deaths == 1:
            return 0.0
        return min(self._most, self._first * 2.0 ** (self._early_deaths - 2))


class AuditWriterProcess:
    """The supervisor's handle on the writer process: its socket directory, start, health, stop."""

    def __init__(
        self, *, healthcheck_timeout: float, startup_grace: float, backoff: RestartBackoff | None = None
    ) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="nsl-audit-"))  # mode 0700
        self.path = self.directory / SOCKET_NAME
        self._timeout = healthcheck_timeout
        self._grace = startup_grace
        self._backoff = backoff or RestartBackoff()
        self.process: BaseProcess | None = None
        self._started_at = 0.0
        self._answered = False
        self._restart_at = 0.0  # monotonic: when the next writer may start (after one died young)

    def start(self) -> None:
        """Spawn a writer (the path is its argument; the workers read it from the environment)."""
        process = multiprocessing.get_context("spawn").Process(
            target=run_audit_writer, args=(str(self.path),), name="nsl-audit-writer"
        )
        process.start()
        self.process, self._started_at, self._answered = process, time.monotonic(), False
        log.info("audit_writer_started", pid=process.pid, path=str(self.path))

    def wait_until_ready(self) -> bool:
        """Wait until the new writer answers; False if it died or did not answer within the grace."""
        while not self._check():
            if self.process is None or not self.process.is_alive():
                return False
            if time.monotonic() - self._started_at > self._grace:
                return False
            time.sleep(0.05)
        return True

    def _check(self) -> bool:
        if ping(self.path, self._timeout):
            self._answered = True
            return True
        return False

    def healthy(self) -> bool:
        """Answers its ping, or is still starting (alive, not yet answered, within the grace)."""
        if self.process is None:
            return False
        if self._check():
            return True
        starting = not self._answered and time.monotonic() - self._started_at < self._grace
        return starting and self.process.is_alive()

    def replace(self) -> None:
        """Kill the writer (hung, or already gone) and start another, or, while the backoff lasts
        after one that died young, none yet: a later call starts it (the supervisor calls again at
        its next check, as the writer is not healthy meanwhile)."""
        now = time.monotonic()
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.join()
            delay = self._backoff.delay_after(now - self._started_at)
            self._restart_at = now + delay
            log.warning(
                "audit_writer_died", pid=process.pid, exit_code=process.exitcode, restart_in_seconds=delay
            )
        if now >= self._restart_at:
            self.start()

    def stop(self) -> None:
        """SIGTERM the writer (it commits and answers what it holds), wait, remove the socket directory."""
        process, self.process = self.process, None
        if process is not None:
            process.terminate()
            process.join(STOP_TIMEOUT_SECONDS)
            if process.is_alive():
                log.error("audit_writer_stop_timeout", pid=process.pid)
                process.kill()
                process.join()
        shutil.rmtree(self.directory, ignore_errors=True)

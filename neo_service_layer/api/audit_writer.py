"""The single audit-writer process of ``nsl api --workers N``, as the supervisor runs it.

The workers hand the entries they group-commit to it over a Unix socket (``services.audit.relay``):
one process holds the audit chain head, so batches are full and nothing misses (docs/performance.md,
"Fifth round"). The supervisor (``api.workers.Workers``) starts it before the workers and tells them
its socket through ``NSL_AUDIT_RELAY_SOCKET``, health-checks it with a ping frame, replaces it if it
dies or hangs (the workers fail closed meanwhile and reconnect by themselves), and stops it only after
every worker has drained, so that every answered request's entry is committed.

The socket lives in a directory of its own created with mode 0700 (``tempfile.mkdtemp``): only the
service user can connect, as only it can write the log through the database.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from multiprocessing.process import BaseProcess
from pathlib import Path

import uvloop

from neo_service_layer.config import Settings
from neo_service_layer.logging import configure_logging, get_logger
from neo_service_layer.services.audit.relay_frames import ANSWER, COMMITTED, encode_ping
from neo_service_layer.services.audit.relay_server import serve_audit_writer

log = get_logger("nsl.api.audit_writer")
#: The environment variable that tells the workers where the writer listens (``audit.relay_socket``).
RELAY_SOCKET_ENV = "NSL_AUDIT_RELAY_SOCKET"
SOCKET_NAME = "audit.sock"
# How often the writer checks that its supervisor still runs (as the workers do).
ORPHAN_CHECK_SECONDS = 0.5
# How long a stopping writer may take to commit what it holds before it is killed.
STOP_TIMEOUT_SECONDS = 30.0


def _stop_when_orphaned(supervisor: int) -> None:
    while os.getppid() == supervisor:
        time.sleep(ORPHAN_CHECK_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)


def run_audit_writer(path: str) -> None:  # pragma: no cover - runs in the spawned process
    """The writer process's body: settings loaded as the workers load them, the writer on ``path``."""
    # Ctrl-C and a closed terminal signal the whole process group: the workers drain on them, and the
    # writer must outlive that drain. Only its supervisor's SIGTERM (after the workers) stops it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    threading.Thread(target=_stop_when_orphaned, args=(os.getppid(),), daemon=True).start()
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


class AuditWriterProcess:
    """The supervisor's handle on the writer process: its socket directory, start, health, stop."""

    def __init__(self, *, healthcheck_timeout: float, startup_grace: float) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="nsl-audit-"))  # mode 0700
        self.path = self.directory / SOCKET_NAME
        self._timeout = healthcheck_timeout
        self._grace = startup_grace
        self.process: BaseProcess | None = None
        self._started_at = 0.0
        self._answered = False

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
        """Kill the writer (hung, or already gone) and start another."""
        if self.process is not None:
            self.process.kill()
            self.process.join()
            log.warning("audit_writer_died", pid=self.process.pid, exit_code=self.process.exitcode)
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

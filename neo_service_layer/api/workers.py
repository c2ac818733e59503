"""``nsl api --workers N``: N uvicorn worker processes on one port, each with a listening socket of its own.

uvicorn's own supervisor (``uvicorn.supervisors.Multiprocess``) hands every worker the same listening
socket, and a worker woken by new connections accepts every one already queued: measured here, a burst
of 16 keep-alive connections all landed on one of two workers (bench/scaling.py, "busiest worker"), and
the other stayed idle for their lifetime. So each worker gets a socket of its own, all bound to the same
address with ``SO_REUSEPORT``, and the kernel spreads connections over them by a hash of their addresses
(socket(7); the same option gunicorn's ``--reuse-port`` and nginx's ``reuseport`` use). The parent keeps
every socket open: a connection the kernel gives to a worker that just died waits in its socket's
backlog for the replacement instead of being refused.

With an :class:`~neo_service_layer.api.audit_writer.AuditWriterProcess` the supervisor also runs the one
audit writer the workers send their entries to: started (and answering) before them, replaced like them,
stopped after them.

The rest is uvicorn's: its :class:`~uvicorn.supervisors.multiprocess.Process` (spawned, with the health
check ping), its startup-failure status, its restart of a worker that dies or hangs, SIGINT/SIGTERM to
stop every worker gracefully (each runs its lifespan shutdown) and then exit. Not uvicorn's SIGHUP
(rolling restart) nor SIGTTIN/SIGTTOU (one worker more or less): SIGHUP stops, like SIGTERM.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from types import FrameType

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Process

from neo_service_layer.api.audit_writer import AuditWriterProcess
from neo_service_layer.api.orphans import stop_when_orphaned
from neo_service_layer.logging import get_logger

log = get_logger("nsl.api.workers")
# How often the supervisor checks on its workers (uvicorn's own supervisor: the same).
CHECK_SECONDS = 0.5
# Each stops the workers gracefully, then the supervisor. SIGHUP too: its default would end the
# supervisor alone and leave the workers serving without one (uvicorn restarts them on it instead).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# How long a new worker may take to answer its first health check. A spawned worker answers only once
# it has imported the app, which takes seconds on a busy machine: with uvicorn's 5 s health-check
# timeout alone, a worker slower than that was killed and replaced forever (seen in the test suite).
STARTUP_GRACE_SECONDS = 60.0


def reuse_port_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` sockets bound to ``host:port`` with ``SO_REUSEPORT`` (port 0: one free port for all)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class _Worker(Process):
    """uvicorn's worker process, which also stops when its supervisor dies. A SIGKILLed supervisor
    cannot stop its workers, and uvicorn's would serve on, orphaned, holding the port."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # pragma: no cover - in the child
        stop_when_orphaned()
        super().target(sockets)


class Workers:
    """Runs one uvicorn worker process per slot, each serving its slot's sockets; restarts the dead."""

    def __init__(
        self,
        config: uvicorn.Config,
        slots: list[list[socket.socket]],
        audit_writer: AuditWriterProcess | None = None,
    ) -> None:
        self.config = config
        self.slots = slots
        # The one audit writer the workers send their entries to (api.audit_writer); None: each their own.
        self.audit_writer = audit_writer
        self.processes: list[_Worker] = []
        # Per slot: when its worker started, and whether it has answered a health check since.
        self._started_at: list[float] = [0.0] * len(slots)
        self._answered: list[bool] = [False] * len(slots)
        # Set by a signal handler or on a startup failure; the loop in run() polls it.
        self.should_exit = threading.Event()
        self.failed_to_start = False

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        log.info("api_workers_stopping", signal=signal.Signals(signum).name)
        self.should_exit.set()

    def _start(self, slot: int) -> _Worker:
        process = _Worker(self.config, self.slots[slot])
        process.start()
        self._started_at[slot], self._answered[slot] = time.monotonic(), False
        log.info("api_worker_started", slot=slot, pid=process.pid)
        return process

    def _healthy(self, slot: int, process: _Worker) -> bool:
        """Answers its health check, or is still starting (alive, not yet answered, within the grace)."""
        if process.is_alive(self.config.timeout_worker_healthcheck):
            self._answered[slot] = True
            return True
        starting = (
            not self._answered[slot] and time.monotonic() - self._started_at[slot] < STARTUP_GRACE_SECONDS
        )
        return starting and process.process.is_alive()

    def run(self) -> None:
        """Start every worker, keep them running until a stop signal, then stop them and wait."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._stop)
        api = self.slots[0][0].getsockname()
        log.info("api_workers_listening", host=api[0], port=api[1], workers=len(self.slots))
        writer = self.audit_writer
        if writer is not None:
            # Before the workers: their first audited request needs it.
            writer.start()
            if not writer.wait_until_ready():
                log.error("audit_writer_failed_to_start")
                self.failed_to_start = True
                writer.stop()
                return
        self.processes = [self._start(slot) for slot in range(len(self.slots))]
        while not self.should_exit.wait(CHECK_SECONDS):
            self._restart_dead()
            if writer is not None and not self.should_exit.is_set() and not writer.healthy():
                writer.replace()  # the workers fail closed meanwhile and reconnect by themselves
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.join()
        if writer is not None:
            # Only now: every worker has answered what it accepted, each answer after its entry's commit.
            writer.stop()

    def _restart_dead(self) -> None:
        for slot, process in enumerate(self.processes):
            if self.should_exit.is_set() or self._healthy(slot, process):
                continue
            process.kill()  # hung, or already gone
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                # It failed before serving (the app, the database, a setting): so would a replacement.
                log.error("api_worker_failed_to_start", slot=slot, pid=process.pid)
                self.failed_to_start = True
                self.should_exit.set()
                return
            log.warning("api_worker_died", slot=slot, pid=process.pid, exit_code=process.exitcode)
            self.processes[slot] = self._start(slot)

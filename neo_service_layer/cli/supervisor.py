"""``nsl serve``: run the API and the worker as child processes and restart any that dies.

Each child is a fresh ``python -m neo_service_layer.cli.main <command>`` with the same environment,
so a crash in one (or a leak) never takes the others down, and the children are exactly what runs
scaled out as separate replicas.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from neo_service_layer.config import Settings
from neo_service_layer.logging import get_logger

log = get_logger("nsl.supervisor")
RESTART_BACKOFF_MAX_SECONDS = 30.0
# A child that lived this long is considered healthy again: its restart backoff resets.
HEALTHY_UPTIME_SECONDS = 60.0
STOP_GRACE_SECONDS = 15.0
POLL_SECONDS = 0.2


@dataclass
class Child:
    """One supervised process and its restart bookkeeping."""

    name: str
    argv: list[str]
    env: dict[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    next_start_at: float = 0.0
    backoff: float = field(default=0.5)

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, env=self.env)  # noqa: S603 - our own interpreter and module
        self.started_at = time.monotonic()
        log.info("child_started", child=self.name, pid=self.process.pid, restarts=self.restarts)

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()


def child_argv(command: str, *options: str) -> list[str]:
    return [sys.executable, "-m", "neo_service_layer.cli.main", command, *options]


# Only the enclave may see what unlocks its sealing key.
ENCLAVE_ONLY_ENV = frozenset({"NSL_ENCLAVE_PASSPHRASE"})


def child_env(*, enclave: bool) -> dict[str, str]:
    """The environment of a child: everything, minus the enclave's secrets for the other processes."""
    return {k: v for k, v in os.environ.items() if enclave or k not in ENCLAVE_ONLY_ENV}


# nsl serve shares the machine with the enclave, the worker and usually the database: it stops here.
MAX_SERVE_API_WORKERS = 4


def serve_api_workers(settings: Settings) -> int:
    """The API processes of ``nsl serve``: ``api_workers`` when set; else one per CPU, at most
    :data:`MAX_SERVE_API_WORKERS`, with PostgreSQL and Redis, and one otherwise.

    Without Redis several processes would not share the rate limits (the settings refuse it); on SQLite
    every write, each request's audit entry included, takes the one database-wide write lock, so more
    processes mostly wait for each other (docs/performance.md).
    """
    if settings.api_workers is not None:
        return settings.api_workers
    if settings.redis_url is None or settings.is_sqlite:
        return 1
    return min(os.cpu_count() or 1, MAX_SERVE_API_WORKERS)


def serve_children(*, enclave: bool, api_workers: int) -> list[Child]:
    """What ``nsl serve`` runs: the enclave (unless it runs on its own, as its own user), API (with
    ``api_workers`` processes), worker."""
    children = [Child("enclave", child_argv("enclave"), child_env(enclave=True))] if enclave else []
    return [
        *children,
        Child("api", child_argv("api", "--workers", str(api_workers)), child_env(enclave=False)),
        Child("worker", child_argv("worker"), child_env(enclave=False)),
    ]


DEPLOYMENT_GUIDE = "docs/deployment.md"


def warn_if_enclave_shares_api_user(children: list[Child]) -> bool:
    """Log a warning (once, at start) when the enclave child runs as the API child's user; True if so.

    The supervisor starts every child as its own user, so it is so whenever it starts the enclave.
    That user can then read the sealing key file and the enclave's environment and memory (ptrace,
    /proc): in software mode a compromised API or worker has the keys. The guide shows how to run the
    enclave as a user of its own.
    """
    names = {child.name for child in children}
    if not {"enclave", "api"} <= names:
        return False
    log.warning(
        "enclave_shares_api_user",
        uid=os.geteuid(),
        detail="the enclave runs as the same user as the API and worker, who can read its sealing key "
        "and environment; run it as its own user (NSL_SERVE_ENCLAVE=false here)",
        guide=DEPLOYMENT_GUIDE,
    )
    return True


class Supervisor:
    """Starts the children, restarts crashed ones with exponential backoff, stops them on a signal."""

    def __init__(self, children: list[Child]) -> None:
        self.children = children
        self._stopping = False

    def request_stop(self, *_: object) -> None:
        self._stopping = True

    def run(self) -> None:
        """Block until SIGINT/SIGTERM, then stop every child gracefully."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        for child in self.children:
            child.start()
        try:
            while not self._stopping:
                self._restart_crashed()
                time.sleep(POLL_SECONDS)
        finally:
            self.stop()

    def _restart_crashed(self) -> None:
        now = time.monotonic()
        for child in self.children:
            code = child.exited()
            if code is None:
                if now - child.started_at > HEALTHY_UPTIME_SECONDS:
                    child.backoff = 0.5
                continue
            if child.next_start_at == 0.0:
                log.warning("child_exited", child=child.name, exit_code=code, restart_in=child.backoff)
                child.next_start_at = now + child.backoff
                child.backoff = min(child.backoff * 2, RESTART_BACKOFF_MAX_SECONDS)
            elif now >= child.next_start_at:
                child.restarts += 1
                child.next_start_at = 0.0
                child.start()

    def stop(self) -> None:
        """SIGTERM every child, wait for the grace period, then SIGKILL what is left."""
        running = [c.process for c in self.children if c.process is not None and c.process.poll() is None]
        for process in running:
            process.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

"""The worker supervisor (``api.workers``) waits for a worker that is slow to start instead of killing it.

A spawned worker answers health checks only once it has imported the app. With uvicorn's health check
alone (5 s), a worker whose import took longer was killed as hung and replaced, forever: the test suite
met it on a busy machine. Here the app takes 3 s to import and the health-check timeout is 1 s.
"""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest
import uvicorn

from neo_service_layer.api.workers import STOP_SIGNALS, Workers, reuse_port_sockets

pytestmark = pytest.mark.slow
SERVE_TIMEOUT = 60.0
# What tests/api/slow_start_app.py sleeps at import (imported in the test: collecting would wait too).
IMPORT_SECONDS = 3.0


def _first_answer(url: str, workers: Workers, answers: list[int]) -> None:
    """Poll until the worker answers (its pid), then stop the supervisor."""
    deadline = time.monotonic() + SERVE_TIMEOUT
    try:
        while time.monotonic() < deadline:
            try:
                answers.append(int(httpx.get(url, timeout=1.0).text))
                return
            except httpx.TransportError:
                time.sleep(0.1)
    finally:
        workers.should_exit.set()


def test_a_worker_slower_to_start_than_the_health_check_is_waited_for() -> None:
    (sock,) = reuse_port_sockets("127.0.0.1", 0, 1)
    port = sock.getsockname()[1]
    # The app object, not its import string: a spawned worker unpickles its config, importing the app,
    # before its health-check thread starts (as ``nsl api`` hands its workers the app factory).
    from tests.api import slow_start_app

    config = uvicorn.Config(slow_start_app.app, timeout_worker_healthcheck=1, log_level="warning")
    workers = Workers(config, [[sock]])
    answers: list[int] = []
    poller = threading.Thread(target=_first_answer, args=(f"http://127.0.0.1:{port}/", workers, answers))
    handlers = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    started = time.monotonic()
    poller.start()
    try:
        workers.run()  # returns once the poller has its answer (or gave up)
    finally:
        poller.join()
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        sock.close()
    assert time.monotonic() - started >= IMPORT_SECONDS
    # Answered at all: a worker killed as hung every 1.5 s (1 s ping + 0.5 s check) would never have
    # finished its 3 s import. And by the one worker in the slot.
    assert answers == [workers.processes[0].pid]

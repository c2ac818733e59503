"""The processes ``nsl api --workers N`` spawns (the workers, the audit writer) stop when it is gone.

A SIGKILLed supervisor cannot stop its children, and a worker would serve on, orphaned, holding the
port, with no one to restart or stop it. So each child watches its parent and stops itself gracefully
(SIGTERM: a worker answers what it accepted and runs its lifespan shutdown; the writer commits and
answers what it holds).
"""

from __future__ import annotations

import os
import signal
import threading
import time

# How often a child checks that its supervisor still runs.
ORPHAN_CHECK_SECONDS = 0.5


def stop_when_orphaned() -> None:
    """Start a daemon thread that SIGTERMs this process once its parent (the supervisor) is gone."""
    threading.Thread(target=_watch, args=(os.getppid(),), daemon=True, name="nsl-orphan-watch").start()


def _watch(supervisor: int) -> None:
    while os.getppid() == supervisor:
        time.sleep(ORPHAN_CHECK_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)

"""Detached chain processes, known by pid: is it (still) ours and alive, and stop it.

A pid in the state file may have been reused by an unrelated process after a reboot or a crash, so a
process counts as the chain only if its command line contains a marker (the chain's workdir, which both
anvil and neo-go get as an argument). A zombie (dead, not yet reaped by its new parent) counts as gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

DEFAULT_TERMINATE_TIMEOUT_SECONDS = 10.0
_POLL_SECONDS = 0.05


@contextlib.contextmanager
def releasing_children() -> Iterator[None]:
    """Drop the last reference to a running ``Popen`` in this block to leave the child running.

    ``Popen.__del__`` warns (``ResourceWarning``) about a child still running and parks it on
    ``subprocess``'s list of children to reap later; for a detached chain that is intended, so the
    warning is silenced here (and only here).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        yield


def _proc_state(pid: int) -> str | None:
    """The one-letter state from ``/proc/<pid>/stat`` (None: no such process or no procfs)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) S ...": comm may contain spaces and parentheses, so split after the last ")".
    return stat.rsplit(")", 1)[-1].split()[0]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def pid_alive(pid: int, marker: str | None = None) -> bool:
    """True if ``pid`` runs, is not a zombie, and (when given) has ``marker`` in its command line."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # not ours: never a chain this user started
    state = _proc_state(pid)
    if state is None and Path("/proc").is_dir():
        return False
    if state in ("Z", "X"):
        return False
    return marker is None or marker in _cmdline(pid)


def terminate(
    pid: int, marker: str | None = None, timeout: float = DEFAULT_TERMINATE_TIMEOUT_SECONDS
) -> bool:
    """SIGTERM ``pid`` (if alive and ours), SIGKILL it after ``timeout``; True if it was running."""
    if not pid_alive(pid, marker):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(_POLL_SECONDS)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the OS picks it; a process should bind it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])

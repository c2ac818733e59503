"""Detached processes by pid: alive only while running, not a zombie, and with the marker in argv."""

from __future__ import annotations

import subprocess
import sys
import time

from neo_service_layer.chains.devnet.processes import pid_alive, releasing_children, terminate

MARKER = "nsl-devnet-test-marker"


def _sleeper(*, ignore_term: bool = False) -> subprocess.Popen[bytes]:
    code = "import signal, time\n"
    if ignore_term:
        code += "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    code += "print('ready', flush=True)\ntime.sleep(60)\n"
    proc = subprocess.Popen([sys.executable, "-c", code, MARKER], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"  # the handler is installed
    return proc


def test_terminate_by_pid_and_marker() -> None:
    proc = _sleeper()
    try:
        assert pid_alive(proc.pid, MARKER)
        assert not pid_alive(proc.pid, "another-marker")  # a reused pid is not ours
        assert not terminate(proc.pid, "another-marker")
        assert proc.poll() is None
        assert terminate(proc.pid, MARKER)
        assert not pid_alive(proc.pid)  # a zombie until reaped: counted as gone
        assert not terminate(proc.pid, MARKER)  # idempotent
    finally:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_sigkill_after_timeout() -> None:
    proc = _sleeper(ignore_term=True)
    try:
        started = time.monotonic()
        assert terminate(proc.pid, MARKER, timeout=0.5)
        assert proc.wait(timeout=5) == -9
        assert time.monotonic() - started < 5
    finally:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_release_keeps_the_child_running() -> None:
    proc = _sleeper()
    assert proc.stdout is not None
    stdout, pid = proc.stdout, proc.pid
    with releasing_children():
        del proc
    try:
        assert pid_alive(pid, MARKER)
    finally:
        assert terminate(pid, MARKER)
        stdout.close()
    assert not pid_alive(pid)


def test_no_such_pid() -> None:
    assert not pid_alive(0)
    assert not pid_alive(2**22 + 12345)

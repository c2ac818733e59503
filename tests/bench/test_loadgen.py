"""The load generator's CPU accounting (``bench/loadgen.py``): by process name, by socket holder, and
the probe a window samples next to its own clocks."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.loadgen import cpu_seconds_between, cpu_seconds_by_name, measure, unix_socket_holder

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
LISTENER = """
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen()
print("ready", flush=True)
time.sleep(60)
"""


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_cpu_by_name_counts_this_process_and_nothing_for_an_absent_name() -> None:
    own = Path("/proc/self/comm").read_text().strip()
    before = cpu_seconds_by_name((own, "no-such-process"))
    _burn(0.3)
    after = cpu_seconds_by_name((own, "no-such-process"))
    assert after[os.getpid()][0] == own
    used = cpu_seconds_between(before, after)
    assert used[own] >= 0.2  # clock ticks: 10 ms apiece
    assert "no-such-process" not in used


def test_cpu_between_samples_ignores_ended_processes_and_counts_new_ones_whole() -> None:
    before = {1: ("postgres", 5.0), 2: ("postgres", 9.0), 3: ("redis-server", 1.0)}
    after = {1: ("postgres", 5.5), 4: ("postgres", 0.25), 3: ("redis-server", 1.5)}  # 2 ended, 4 began
    assert cpu_seconds_between(before, after) == {"postgres": 0.75, "redis-server": 0.5}
    # A pid reused by another program between the samples counts whole, under its new name.
    assert cpu_seconds_between({7: ("postgres", 3.0)}, {7: ("sleep", 0.5)}) == {"sleep": 0.5}


def test_the_unix_socket_holder_is_the_process_that_listens(tmp_path: Path) -> None:
    path = tmp_path / "relay" / "audit.sock"
    path.parent.mkdir()
    with subprocess.Popen([sys.executable, "-c", LISTENER, str(path)], stdout=subprocess.PIPE) as listener:
        try:
            assert listener.stdout is not None
            assert listener.stdout.readline() == b"ready\n"
            pids = [os.getpid(), listener.pid]
            assert unix_socket_holder(pids, "audit.sock") == listener.pid
            assert unix_socket_holder([os.getpid()], "audit.sock") is None  # only among the pids given
            assert unix_socket_holder(pids, "other.sock") is None
        finally:
            listener.kill()


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while await reader.readuntil(b"\r\n\r\n"):
        writer.write(RESPONSE)


async def test_a_window_probes_at_its_start_and_end() -> None:
    server = await asyncio.start_server(_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    calls: list[float] = []

    def probe() -> float:
        calls.append(time.perf_counter())
        return calls[-1]

    async with server:
        window = await measure(
            "t",
            1,
            port,
            os.getpid(),
            b"GET / HTTP/1.1\r\nhost: x\r\n\r\n",
            concurrency=2,
            warmup=0.05,
            seconds=0.2,
            probe=probe,
        )
    assert window.probed == (calls[0], calls[1])
    assert len(calls) == 2
    assert window.probed[1] - window.probed[0] >= 0.2  # around the measured window, not the warm-up
    assert window.requests > 0
    assert window.errors == 0

"""A closed-loop HTTP/1.1 load generator cheap enough not to be the bottleneck on a small machine.

Each connection is a raw asyncio protocol (no streams, no coroutine per request): it sends one
request, reads the response (``Content-Length`` bodies only), records the latency, and sends the
next one from ``data_received``. On uvloop that costs a few microseconds per request, far below the
~150 µs a one-worker uvicorn needs to serve even a hello-world. CPU time of the server, of this
process and of everything else on the machine is sampled around each window so that the report can
tell who was busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

HOST = "127.0.0.1"
DRAIN_TIMEOUT = 10.0
MAX_CONNECT_FAILURES = 100
CONNECT_RETRY_SECONDS = 0.05


class LoadError(RuntimeError):
    """The load could not be applied (cannot connect, unreadable response, server stuck)."""


@dataclass(slots=True)
class Recorder:
    """What the connections of one measurement saw. Confined to the event loop thread: no lock."""

    recording: bool = False
    running: bool = True
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    dropped: int = 0
    served_total: int = 0


def parse_head(head: bytes) -> tuple[int, int]:
    """Status code and Content-Length of a response head (without the final blank line)."""
    if not head.startswith(b"HTTP/1.1 ") or len(head) < 12:
        raise LoadError(f"not an HTTP/1.1 response: {head[:40]!r}")
    lowered = head.lower()
    start = lowered.find(b"\r\ncontent-length:")
    if start < 0:
        raise LoadError("response without Content-Length (chunked bodies are not supported)")
    end = lowered.find(b"\r\n", start + 2)
    value = head[start + 17 : end if end >= 0 else len(head)]
    return int(head[9:12]), int(value.strip())


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection that sends the next request when a response completes."""

    def __init__(self, request: bytes, recorder: Recorder, closed: asyncio.Future[None]) -> None:
        self._request = request
        self._recorder = recorder
        self._closed = closed
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._sent_at = 0.0
        self._head_end = -1
        self._status = 0
        self._total = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport implements asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._send()

    def _send(self) -> None:
        assert self._transport is not None
        self._sent_at = time.perf_counter()
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        try:
            self._on_data(data)
        except Exception as exc:  # raised here, the loop would only log it
            self._fail(exc)

    def _on_data(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if self._head_end < 0:
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            self._status, length = parse_head(bytes(buffer[:head_end]))
            self._head_end = head_end
            self._total = head_end + 4 + length
        if len(buffer) < self._total:
            return
        elapsed = time.perf_counter() - self._sent_at
        if len(buffer) > self._total:
            raise LoadError("bytes after the response; the client does not pipeline")
        buffer.clear()
        self._head_end = -1
        recorder = self._recorder
        recorder.served_total += 1
        if recorder.recording:
            recorder.latencies.append(elapsed)
            recorder.statuses[self._status] += 1
        if recorder.running:
            self._send()
        elif self._transport is not None:
            self._transport.close()

    def _fail(self, exc: Exception) -> None:
        if not self._closed.done():
            self._closed.set_exception(exc)
        if self._transport is not None:
            self._transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._closed.done():
            self._closed.set_result(None)


async def _connection_loop(port: int, request: bytes, recorder: Recorder) -> None:
    """Keep one connection busy until the recorder stops; reconnect (and count it) if it drops."""
    loop = asyncio.get_running_loop()
    failures = 0
    while recorder.running:
        closed: asyncio.Future[None] = loop.create_future()
        try:
            transport, _ = await loop.create_connection(
                functools.partial(Connection, request, recorder, closed), HOST, port
            )
        except OSError as exc:
            failures += 1
            if failures > MAX_CONNECT_FAILURES:
                raise LoadError(f"cannot connect to {HOST}:{port}: {exc}") from exc
            await asyncio.sleep(CONNECT_RETRY_SECONDS)
            continue
        try:
            await closed
        finally:
            transport.abort()
        if recorder.running:
            recorder.dropped += 1


async def _sleep_watching(tasks: list[asyncio.Task[None]], seconds: float) -> None:
    """Sleep, but raise at once if a connection task fails."""
    done, _ = await asyncio.wait(tasks, timeout=seconds, return_when=asyncio.FIRST_EXCEPTION)
    for task in done:
        task.result()


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of process ``pid`` (all threads) from /proc, or None off Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return _stat_cpu_seconds(stat)


def _stat_cpu_seconds(stat: str) -> float:
    """utime + stime of a ``/proc/<pid>/stat`` line, in seconds (the fields after the ``(comm)``)."""
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    """The children of process ``pid`` (a server's workers), from /proc; empty off Linux or when gone."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU time of process ``pid`` and of its living descendants (a server's worker processes), or None
    off Linux. A worker that died since the last sample takes its time with it: compare windows only
    when no worker restarted."""
    own = process_cpu_seconds(pid)
    if own is None:
        return None
    return own + sum(tree_cpu_seconds(child) or 0.0 for child in child_pids(pid))


def cpu_seconds_by_name(names: tuple[str, ...]) -> dict[int, tuple[str, float]]:
    """CPU time of every living process whose command name (``/proc/<pid>/comm``, e.g. ``postgres``,
    ``redis-server``) is one of ``names``: pid -> (name, seconds); empty off Linux. Compare two samples
    pid by pid (``cpu_seconds_between``): a process that ended between them takes its time with it."""
    found: dict[int, tuple[str, float]] = {}
    try:
        entries = [entry for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    except OSError:
        return found
    for entry in entries:
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if name in names:
            found[int(entry.name)] = (name, _stat_cpu_seconds(stat))
    return found


def cpu_seconds_between(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU seconds used per name between two ``cpu_seconds_by_name`` samples: the processes alive at
    the second, less what each had used at the first (one started in between counts whole)."""
    used: dict[str, float] = {}
    for pid, (name, seconds) in after.items():
        earlier = before.get(pid)
        since = seconds - (earlier[1] if earlier is not None and earlier[0] == name else 0.0)
        used[name] = used.get(name, 0.0) + since
    return used


def unix_socket_holder(pids: list[int], path_suffix: str) -> int | None:
    """Which of ``pids`` holds a Unix socket bound to a path ending in ``path_suffix`` (the listening
    end, or a connection it accepted: both carry the path), from /proc; None if none does."""
    try:
        table = Path("/proc/net/unix").read_text().splitlines()[1:]
    except OSError:
        return None
    # Num RefCount Protocol Flags Type St Inode [Path]
    inodes = {f"socket:[{row.split()[6]}]" for row in table if row.split()[-1].endswith(path_suffix)}
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            with contextlib.suppress(OSError):
                if os.readlink(fd) in inodes:
                    return pid
    return None


def machine_busy_seconds() -> float | None:
    """CPU time all CPUs spent neither idle nor in iowait (steal included), from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
    ticks = [int(value) for value in first[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class CpuSample:
    """CPU clocks at one instant: the server's (its worker processes included), this process's, the whole
    machine's."""

    wall: float
    server: float | None
    client: float
    machine: float | None

    @classmethod
    def take(cls, server_pid: int) -> CpuSample:
        return cls(
            time.perf_counter(), tree_cpu_seconds(server_pid), time.process_time(), machine_busy_seconds()
        )


@dataclass(slots=True)
class Window:
    """One measured window of one target. CPU figures are in cores (1.0 = one core busy)."""

    target: str
    round: int
    seconds: float
    requests: int
    errors: int
    dropped: int
    statuses: dict[str, int]
    server_cpu: float | None
    client_cpu: float
    other_cpu: float | None
    latencies: list[float] = field(repr=False)
    extra_cpu: float | None = None  # the ``extra_pid`` process's, when one was given
    probed: tuple[Any, Any] | None = None  # ``probe()`` at the window's start and end, when one was given

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


async def measure(
    target: str,
    round_: int,
    port: int,
    server_pid: int,
    request: bytes,
    *,
    concurrency: int,
    warmup: float,
    seconds: float,
    extra_pid: int | None = None,
    probe: Callable[[], Any] | None = None,
) -> Window:
    """Warm up, then record ``seconds`` of closed-loop load over ``concurrency`` connections.

    ``extra_pid``: another process on the request path (the enclave) whose CPU the window also reports.
    ``probe``: called at the window's start and end, next to the CPU samples (the caller's own clocks).
    """
    recorder = Recorder()
    tasks = [asyncio.create_task(_connection_loop(port, request, recorder)) for _ in range(concurrency)]
    try:
        await _sleep_watching(tasks, warmup)
        before = CpuSample.take(server_pid)
        extra_before = None if extra_pid is None else process_cpu_seconds(extra_pid)
        probed_before = None if probe is None else probe()
        recorder.recording = True
        await _sleep_watching(tasks, seconds)
        recorder.recording = False
        after = CpuSample.take(server_pid)
        extra_after = None if extra_pid is None else process_cpu_seconds(extra_pid)
        probed_after = None if probe is None else probe()
        recorder.running = False
        try:
            async with asyncio.timeout(DRAIN_TIMEOUT):
                await asyncio.gather(*tasks)
        except TimeoutError as exc:
            raise LoadError(f"{target}: responses still missing {DRAIN_TIMEOUT:.0f}s after stop") from exc
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    elapsed = after.wall - before.wall
    requests = sum(recorder.statuses.values())
    server_cpu = other_cpu = extra_cpu = None
    client_cpu = (after.client - before.client) / elapsed
    if extra_after is not None and extra_before is not None:
        extra_cpu = (extra_after - extra_before) / elapsed
    if after.server is not None and before.server is not None:
        server_cpu = (after.server - before.server) / elapsed
        if after.machine is not None and before.machine is not None:
            busy = (after.machine - before.machine) / elapsed
            other_cpu = max(0.0, busy - server_cpu - client_cpu - (extra_cpu or 0.0))
    return Window(
        target=target,
        round=round_,
        seconds=elapsed,
        requests=requests,
        errors=requests - recorder.statuses[200] + recorder.dropped,
        dropped=recorder.dropped,
        statuses={str(code): count for code, count in sorted(recorder.statuses.items())},
        server_cpu=server_cpu,
        client_cpu=client_cpu,
        other_cpu=other_cpu,
        latencies=recorder.latencies,
        extra_cpu=extra_cpu,
        probed=None if probe is None else (probed_before, probed_after),
    )


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1) of an ascending list; NaN when empty."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

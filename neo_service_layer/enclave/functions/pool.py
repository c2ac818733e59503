"""The enclave's side of the sandbox: a pool of warm sandbox processes, one run each at a time.

Each process is ``sandbox_worker.py`` (standard library and QuickJS only: it never holds a key), started
with an empty environment and one inherited descriptor, its socket. The pool enforces what the process
cannot be trusted to enforce about itself:

* the wall-clock deadline of a run (its timeout plus ``grace_seconds``): past it the process is killed
  with SIGKILL and replaced, and the run is ``timed_out``;
* the size of what comes back: a frame larger than the run's output and log limits allow is not read,
  the process is killed and the run is ``output_too_large``; output and logs are checked again in bytes;
* the fetch limit: the pool counts the calls it performs and refuses those beyond the limit;
* a process that dies (a signal, a broken frame) is replaced and its run reported ``crashed`` (or
  ``timed_out`` for SIGXCPU, its CPU backstop) — never an exception in the enclave.

After any limit breach the process is replaced, whatever it reported: the next run starts in a process
that no breach has touched. ``run`` never raises for what the function does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from neo_service_layer.enclave.functions import sandbox_worker
from neo_service_layer.enclave.functions.bridge import (
    FetchBridge,
    FetchRefused,
    FetchRequest,
    NoFetch,
)
from neo_service_layer.enclave.functions.limits import OPERATOR_MAXIMUMS, RunLimits
from neo_service_layer.enclave.functions.runs import (
    PoolStats,
    RunError,
    RunRequest,
    RunResult,
    RunStatus,
    SyntaxCheck,
)
from neo_service_layer.enclave.functions.wire import FrameTooLarge, ProtocolBroken, encode_frame, read_frame

log = logging.getLogger(__name__)

WORKER_PATH: Final = Path(sandbox_worker.__file__)
DEFAULT_POOL_SIZE: Final = 2
DEFAULT_GRACE_SECONDS: Final = 1.0
#: A syntax check's own limits: compiling never needs more (a source that runs code while being
#: compiled, by closing the wrapper, is stopped by them).
CHECK_TIMEOUT_MS: Final = 2_000
CHECK_MEMORY_MB: Final = 64
_CHECK_FAILED: Final = "the source could not be compiled within the check's limits"
#: A process has this long to start and confine itself.
SPAWN_TIMEOUT_SECONDS: Final = 15.0
RESPAWN_FIRST_DELAY_SECONDS: Final = 0.5
RESPAWN_MAX_DELAY_SECONDS: Final = 10.0
#: JSON escapes a character in at most 6 bytes (\\uXXXX); the rest of a result frame is small.
_ESCAPE_FACTOR: Final = 6
_FRAME_OVERHEAD: Final = 64 * 1024
_REPLACED_STATUSES: Final = frozenset(
    {RunStatus.TIMED_OUT, RunStatus.MEMORY_EXCEEDED, RunStatus.OUTPUT_TOO_LARGE, RunStatus.CRASHED}
)


@dataclass(slots=True, eq=False)
class _Worker:
    process: asyncio.subprocess.Process
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    seccomp: str

    @property
    def pid(self) -> int:
        return self.process.pid

    async def kill(self) -> None:
        """SIGKILL and reap (safe to call twice)."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.writer.close()
        await self.process.wait()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class SandboxPool:
    """``size`` warm sandbox processes, each able to run up to ``maximums`` (its address-space ceiling is
    set from ``maximums.memory_mb``). ``bridge`` performs the runs' fetches (default: none allowed); a
    run may pass its own (the function's allow-list). ``start()`` / ``stop()`` are safe to call twice."""

    def __init__(
        self,
        size: int = DEFAULT_POOL_SIZE,
        *,
        maximums: RunLimits = OPERATOR_MAXIMUMS,
        bridge: FetchBridge | None = None,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
        python: str = sys.executable,
        worker: Path = WORKER_PATH,
    ) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one process")
        self.size = size
        self.maximums = maximums
        self.grace_seconds = grace_seconds
        self._bridge: FetchBridge = bridge if bridge is not None else NoFetch()
        self._python = python
        # Another worker script: tests stand in a compromised sandbox, which the pool must not trust.
        self._worker = worker
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        # Guards nothing shared across awaits; the set keeps every live process for stop() to kill.
        self._live: set[_Worker] = set()
        self._spawning: set[asyncio.Task[None]] = set()
        self._started = False
        self._stopping = asyncio.Event()
        #: Processes replaced after a breach or a crash (a metric, and what the containment tests read).
        self.replaced = 0
        #: What the processes report of their seccomp filter ("x86_64-deny-list" or why none).
        self.seccomp = ""

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._stopping = asyncio.Event()
        workers = await asyncio.gather(*(self._spawn() for _ in range(self.size)))
        for worker in workers:
            self._idle.put_nowait(worker)

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self._stopping.set()  # runs waiting for a process give up
        # A replacement under way is cancelled: _spawn kills a process it has not handed over yet.
        for task in list(self._spawning):
            task.cancel()
        await asyncio.gather(*self._spawning, return_exceptions=True)
        await asyncio.gather(*(w.kill() for w in list(self._live)), return_exceptions=True)
        self._live.clear()
        self._idle = asyncio.Queue()

    async def __aenter__(self) -> SandboxPool:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def replenished(self) -> None:
        """Wait until the processes being replaced are up (tests; a caller of ``run`` never needs to)."""
        await asyncio.gather(*self._spawning, return_exceptions=True)

    def stats(self) -> PoolStats:
        """The pool's state now (the API's metrics read it through ``functions.pool_stats``)."""
        return PoolStats(
            size=self.size, idle=self._idle.qsize(), replaced=self.replaced, seccomp=self.seccomp
        )

    def pids(self) -> list[int]:
        """The live processes' ids (tests and metrics)."""
        return sorted(w.pid for w in self._live)

    async def run(self, request: RunRequest, *, bridge: FetchBridge | None = None) -> RunResult:
        """Run ``request`` in a fresh context of an idle process; waits for one when all are busy.

        ``LimitAboveMaximum`` if the request's limits exceed the pool's maximums; otherwise a result,
        whatever the function does."""
        if not self._started:
            raise RuntimeError("the sandbox pool is not started")
        limits = request.limits.within(self.maximums)
        worker = await self._take()
        started = time.monotonic()
        healthy = False
        try:
            result = await self._run_on(worker, request, limits, bridge or self._bridge, started)
            healthy = result.status not in _REPLACED_STATUSES
            return result
        finally:
            if healthy:
                self._idle.put_nowait(worker)
            else:
                await self._replace(worker)

    async def check(self, source: str) -> SyntaxCheck:
        """Compile ``source`` in an idle process without running it (``sandbox_worker.check_once``).

        Bounded like a run (CHECK_TIMEOUT_MS, CHECK_MEMORY_MB, the pool's deadline): a process that
        breaks them is replaced and the check reports no position."""
        if not self._started:
            raise RuntimeError("the sandbox pool is not started")
        limits = {"timeout_ms": CHECK_TIMEOUT_MS, "memory_mb": min(CHECK_MEMORY_MB, self.maximums.memory_mb)}
        worker = await self._take()
        healthy = False
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_MS / 1000 + self.grace_seconds):
                worker.writer.write(encode_frame({"type": "check", "source": source, "limits": limits}))
                await worker.writer.drain()
                message = await read_frame(worker.reader, _FRAME_OVERHEAD)
            if message is None or message.get("type") != "checked":
                return SyntaxCheck(ok=False, message=_CHECK_FAILED)
            healthy = True
            return _checked(message)
        except (TimeoutError, FrameTooLarge, ProtocolBroken, ConnectionError):
            return SyntaxCheck(ok=False, message=_CHECK_FAILED)
        finally:
            if healthy:
                self._idle.put_nowait(worker)
            else:
                await self._replace(worker)

    async def _take(self) -> _Worker:
        """An idle process; RuntimeError if the pool stops while waiting for one."""
        if not self._idle.empty():
            return self._idle.get_nowait()
        getting = asyncio.ensure_future(self._idle.get())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not getting.done():
                getting.cancel()
        if getting.cancelled() or not getting.done():
            raise RuntimeError("the sandbox pool stopped")
        return getting.result()

    async def _run_on(
        self, worker: _Worker, request: RunRequest, limits: RunLimits, bridge: FetchBridge, started: float
    ) -> RunResult:
        frame = {
            "type": "run",
            "source": request.source,
            "args": request.args,
            "secrets": dict(request.secrets),
            "limits": limits.to_wire(),
        }
        max_frame = (limits.max_output_bytes + limits.max_log_bytes) * _ESCAPE_FACTOR + _FRAME_OVERHEAD
        fetches = 0
        try:
            async with asyncio.timeout(limits.timeout_ms / 1000 + self.grace_seconds):
                worker.writer.write(encode_frame(frame))
                await worker.writer.drain()
                while True:
                    message = await read_frame(worker.reader, max_frame)
                    if message is None:
                        return await self._died(worker, started)
                    if message.get("type") == "fetch":
                        fetches += 1
                        answer = await self._fetch(message, fetches, limits, bridge, request.tenant, started)
                        worker.writer.write(
                            encode_frame({"type": "fetch_result", "id": message.get("id"), "answer": answer})
                        )
                        await worker.writer.drain()
                        continue
                    if message.get("type") == "result":
                        return _result(message, limits, started)
                    raise ProtocolBroken("an unexpected message")
        except TimeoutError:
            return RunResult(RunStatus.TIMED_OUT, fetches=fetches, duration_ms=_ms(started))
        except FrameTooLarge:
            return RunResult(RunStatus.OUTPUT_TOO_LARGE, fetches=fetches, duration_ms=_ms(started))
        except (ProtocolBroken, ConnectionError):
            return RunResult(RunStatus.CRASHED, fetches=fetches, duration_ms=_ms(started))

    async def _fetch(
        self,
        message: dict[str, Any],
        count: int,
        limits: RunLimits,
        bridge: FetchBridge,
        tenant: str,
        started: float,
    ) -> dict[str, Any]:
        try:
            if count > limits.max_fetches:
                raise FetchRefused("fetch_limit", f"at most {limits.max_fetches} fetch calls")
            request = FetchRequest.from_wire(message.get("request"))
            remaining = limits.timeout_ms / 1000 - (time.monotonic() - started)
            if remaining <= 0:
                raise FetchRefused("timeout", "the run's time is over")
            response = await bridge.fetch(
                request, timeout_seconds=remaining, max_bytes=limits.max_fetch_response_bytes, tenant=tenant
            )
        except FetchRefused as exc:
            return {"error": {"code": exc.code, "message": exc.message}}
        return {"response": response.to_wire()}

    async def _died(self, worker: _Worker, started: float) -> RunResult:
        code = await worker.process.wait()
        status = RunStatus.TIMED_OUT if code == -signal.SIGXCPU else RunStatus.CRASHED
        log.warning("sandbox process %d exited with %d during a run", worker.pid, code)
        return RunResult(status, duration_ms=_ms(started))

    async def _replace(self, worker: _Worker) -> None:
        self._live.discard(worker)
        await worker.kill()
        self.replaced += 1
        if self._started:
            task = asyncio.create_task(self._respawn())
            self._spawning.add(task)
            task.add_done_callback(self._spawning.discard)

    async def _respawn(self) -> None:
        # Until it succeeds (or the pool stops): runs wait for an idle process, so a pool that gave up
        # would leave them waiting for ever.
        delay = RESPAWN_FIRST_DELAY_SECONDS
        while self._started:
            try:
                self._idle.put_nowait(await self._spawn())
                return
            except (OSError, TimeoutError, ProtocolBroken) as exc:
                log.error("sandbox process could not be replaced (retrying in %.1f s): %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RESPAWN_MAX_DELAY_SECONDS)

    async def _spawn(self) -> _Worker:
        parent, child = socket.socketpair()
        try:
            process = await asyncio.create_subprocess_exec(
                self._python,
                "-I",
                str(self._worker),
                str(child.fileno()),
                str(self.maximums.memory_mb),
                pass_fds=(child.fileno(),),
                close_fds=True,
                env={},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        try:
            reader, writer = await asyncio.open_unix_connection(sock=parent)
        except BaseException:
            # Cancelled (stop()) or failed between starting the process and recording it: no orphan.
            parent.close()
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise
        worker = _Worker(process, reader, writer, seccomp="")
        self._live.add(worker)
        try:
            async with asyncio.timeout(SPAWN_TIMEOUT_SECONDS):
                ready = await read_frame(reader, _FRAME_OVERHEAD)
            if ready is None or ready.get("type") != "ready":
                raise ProtocolBroken("the sandbox process did not start")
        except BaseException:
            self._live.discard(worker)
            await worker.kill()
            raise
        worker.seccomp = self.seccomp = str(ready.get("seccomp", ""))
        return worker


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000


def _result(message: dict[str, Any], limits: RunLimits, started: float) -> RunResult:
    """The sandbox's report, checked again here: the status is one we know, output and logs in bytes."""
    try:
        status = RunStatus(str(message.get("status")))
    except ValueError:
        return RunResult(RunStatus.CRASHED, duration_ms=_ms(started))
    logs = message.get("logs")
    logs = logs if isinstance(logs, str) else ""
    encoded = logs.encode("utf-8", errors="replace")
    truncated = bool(message.get("logsTruncated")) or len(encoded) > limits.max_log_bytes
    if len(encoded) > limits.max_log_bytes:
        logs = encoded[: limits.max_log_bytes].decode("utf-8", errors="ignore")
    fetches = message.get("fetches")
    memory = message.get("memory_bytes")
    common: dict[str, Any] = {
        "logs": logs,
        "logs_truncated": truncated,
        "fetches": fetches if isinstance(fetches, int) else 0,
        "duration_ms": _ms(started),
        "memory_bytes": memory if isinstance(memory, int) else None,
    }
    if status is RunStatus.SUCCEEDED:
        result = message.get("result")
        if not isinstance(result, str):
            return RunResult(RunStatus.CRASHED, **common)
        if len(result.encode()) > limits.max_output_bytes:
            return RunResult(RunStatus.OUTPUT_TOO_LARGE, **common)
        return RunResult(status, result=result, **common)
    error = message.get("error")
    run_error = None
    if isinstance(error, dict):
        run_error = RunError(
            name=str(error.get("name", "Error"))[:200],
            message=str(error.get("message", ""))[:4096],
            stack=str(error.get("stack", ""))[:8192],
        )
    return RunResult(status, error=run_error, **common)


def _checked(message: dict[str, Any]) -> SyntaxCheck:
    """The sandbox's check report, typed: positions are positive integers or absent."""
    line, column, text = message.get("line"), message.get("column"), message.get("message")

    def position(value: object) -> int | None:
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

    if message.get("ok") is True:
        return SyntaxCheck(ok=True)
    return SyntaxCheck(
        ok=False,
        message=str(text)[:1024] if text is not None else _CHECK_FAILED,
        line=position(line),
        column=position(column),
    )

"""The enclave's Unix-socket server: many connections, many requests in flight on each, never a crash.

Per connection, one reader decodes frames in order and starts a task per request (at most
``max_in_flight`` per connection: beyond that the reader waits, which pushes back on the peer through
the socket buffer); responses go out as they finish, matched by id. Bad input gets an error response;
a frame that cannot be trusted (bad length, not JSON, not an object) also ends the connection, since
the peer does not speak the protocol. No exception from a peer's bytes reaches the event loop.

Logs carry the op name, request id, duration and error code only — never args or results, which may
hold key material or plaintext.

The socket file is mode 0600 in a directory of mode 0700 (only the enclave's user may connect).
A lock file beside it (``flock``, released by the kernel when the process dies, even by SIGKILL)
tells a live enclave from a stale socket file: a second enclave on the same socket refuses to start,
and a stale socket left by a crash is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import stat
import time
from pathlib import Path
from typing import Any, Final

from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.fsutil import ensure_private_dir
from neo_service_layer.enclave.ops import OpRegistry, execute
from neo_service_layer.enclave.protocol import (
    BadFrame,
    EnclaveError,
    InternalError,
    Request,
    ShuttingDown,
    UnknownOp,
    decode_message,
    encode_frame,
    error_response,
    ok_response,
    parse_request,
    read_frame,
    request_id_of,
)
from neo_service_layer.errors import ConfigurationError
from neo_service_layer.logging import get_logger

log = get_logger("nsl.enclave.server")

DEFAULT_MAX_IN_FLIGHT: Final = 64
DEFAULT_STOP_GRACE_SECONDS: Final = 10.0
# AF_UNIX sun_path holds 108 bytes including the terminating NUL (unix(7)).
MAX_SOCKET_PATH_BYTES: Final = 107
SOCKET_MODE: Final = 0o600


class SocketLock:
    """An exclusive ``flock`` on ``<socket>.lock``, held while the enclave serves on the socket."""

    def __init__(self, socket_path: Path) -> None:
        self.path = socket_path.with_name(socket_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock; ConfigurationError if another live process holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise ConfigurationError(
                f"another enclave is already serving on {self.path.with_suffix('')} (it holds {self.path})"
            ) from exc
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


def prepare_socket_path(path: Path) -> None:
    """Check the path fits in sun_path, make its directory private, remove a stale socket file."""
    if len(os.fsencode(path)) > MAX_SOCKET_PATH_BYTES:
        raise ConfigurationError(
            f"enclave socket path {path} is longer than {MAX_SOCKET_PATH_BYTES} bytes (AF_UNIX limit)"
        )
    ensure_private_dir(path.parent)
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise ConfigurationError(f"{path} exists and is not a socket; refusing to replace it")
    # Only called with the lock held, so no live enclave owns this socket: it is stale.
    path.unlink()
    log.info("removed stale enclave socket", path=str(path))


class _Connection:
    """One peer: serialized writes, and the request tasks still running for it."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        # Guards the writer: one frame is written and drained at a time, so frames never interleave.
        self.write_lock = asyncio.Lock()
        self.tasks: set[asyncio.Task[None]] = set()

    async def send(self, message: dict[str, Any]) -> None:
        try:
            frame = encode_frame(message)
        except (BadFrame, ValueError, TypeError):
            frame = encode_frame(
                error_response(request_id_of(message), InternalError("result too large to send"))
            )
        async with self.write_lock:
            if self.writer.is_closing():
                return
            self.writer.write(frame)
            with contextlib.suppress(ConnectionError):
                await self.writer.drain()


class EnclaveServer:
    """Serves ``registry`` with ``ctx`` on the Unix socket ``path``. ``start``/``stop`` are idempotent."""

    def __init__(
        self,
        ctx: EnclaveContext,
        registry: OpRegistry,
        path: Path,
        *,
        lock: SocketLock | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        stop_grace_seconds: float = DEFAULT_STOP_GRACE_SECONDS,
    ) -> None:
        self.ctx = ctx
        self.registry = registry
        self.path = path
        self._lock = lock or SocketLock(path)
        self._max_in_flight = max_in_flight
        self._stop_grace = stop_grace_seconds
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._stopping = False

    @property
    def serving(self) -> bool:
        return self._server is not None and not self._stopping

    async def start(self) -> None:
        """Lock, clean up, bind (mode 0600) and listen."""
        if self._server is not None:
            return
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self._lock.held:
            self._lock.acquire()
        try:
            prepare_socket_path(self.path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(os.fspath(self.path))
                # The directory is 0700 and ours, so nobody else can reach the socket in the moment
                # between bind (which applies the umask) and this chmod.
                os.chmod(self.path, SOCKET_MODE)
                sock.listen(128)
            except BaseException:
                sock.close()
                raise
            self._server = await asyncio.start_unix_server(self._on_connection, sock=sock)
        except BaseException:
            self._lock.release()
            raise
        self._stopping = False
        log.info("enclave listening", socket=str(self.path), ops=self.registry.names())

    async def stop(self) -> None:
        """Stop accepting, let running requests finish (up to the grace period), then close everything."""
        server = self._server
        if server is None or self._stopping:
            return
        self._stopping = True
        server.close()
        running = [task for conn in self._connections for task in conn.tasks]
        if running:
            _, pending = await asyncio.wait(running, timeout=self._stop_grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for conn in list(self._connections):
            conn.writer.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._lock.release()
        self._server = None
        log.info("enclave stopped", socket=str(self.path))

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        conn = _Connection(writer)
        self._connections.add(conn)
        slots = asyncio.Semaphore(self._max_in_flight)
        try:
            await self._read_loop(conn, reader, slots)
        except asyncio.CancelledError:
            pass  # stop() cancels idle readers once running requests are done
        except Exception as exc:  # a bug in our loop: drop this peer, keep serving the others
            log.error("enclave connection failed", exc_type=type(exc).__name__)
        finally:
            if conn.tasks and not self._stopping:
                await asyncio.gather(*conn.tasks, return_exceptions=True)
            self._connections.discard(conn)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._handlers.discard(task)

    async def _read_loop(
        self, conn: _Connection, reader: asyncio.StreamReader, slots: asyncio.Semaphore
    ) -> None:
        while True:
            try:
                payload = await read_frame(reader)
                if payload is None:
                    return
                message = decode_message(payload)
            except BadFrame as exc:
                log.warning("enclave request rejected", code=str(exc.code), reason=exc.detail[:200])
                await conn.send(error_response(None, exc))
                return
            except (ConnectionError, OSError):
                return
            request_id = request_id_of(message)
            try:
                request = parse_request(message)
            except EnclaveError as exc:
                log.warning("enclave request rejected", id=request_id, code=str(exc.code))
                await conn.send(error_response(request_id, exc))
                continue
            await slots.acquire()
            task = asyncio.create_task(self._serve(conn, request))
            conn.tasks.add(task)
            task.add_done_callback(conn.tasks.discard)
            task.add_done_callback(lambda _: slots.release())

    async def _serve(self, conn: _Connection, request: Request) -> None:
        started = time.perf_counter()
        code = "ok"
        try:
            spec = self.registry.get(request.op)
            if self._stopping:
                raise ShuttingDown("the enclave is shutting down")
            if spec is None:
                raise UnknownOp(f"unknown op {request.op!r}")
            response = ok_response(request.id, await execute(spec, self.ctx, request.args))
        except EnclaveError as exc:
            code = str(exc.code)
            response = error_response(request.id, exc)
        except Exception as exc:
            # Type and place only: the message of an arbitrary exception might quote a secret.
            code = "internal"
            where = exc.__traceback__
            while where is not None and where.tb_next is not None:
                where = where.tb_next
            location = f"{where.tb_frame.f_code.co_filename}:{where.tb_lineno}" if where is not None else "?"
            log.error(
                "enclave op failed", op=request.op, id=request.id, exc_type=type(exc).__name__, at=location
            )
            response = error_response(request.id, InternalError("internal error in the enclave"))
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        if code == "ok":
            log.debug("enclave op", op=request.op, id=request.id, duration_ms=duration_ms, code=code)
        else:
            log.info("enclave op", op=request.op, id=request.id, duration_ms=duration_ms, code=code)
        await conn.send(response)

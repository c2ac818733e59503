"""The enclave's Unix-socket server: many connections, many requests in flight on each, never a crash.

Per connection, one reader decodes frames in order and starts a task per request (at most
``max_in_flight`` per connection: beyond that the reader waits, which pushes back on the peer through
the socket buffer); responses go out as they finish, matched by id. Bad input gets an error response;
a frame that cannot be trusted (bad length, not JSON, not an object) also ends the connection, since
the peer does not speak the protocol. No exception from a peer's bytes reaches the event loop.

Memory is bounded whatever the peers do: at most ``max_connections`` connections (one more gets a
``busy`` frame and is closed), and a request's bytes count against its connection's budget
(``max_connection_bytes``) and the server's (``max_in_flight_bytes``) from the moment its header is
read until its response is sent. A frame that would overdraw either is refused *before* its payload
is read: ``busy`` with id null (its id is inside the unread payload), then the connection is closed
once its other requests are answered, so the client can fail exactly the requests left unanswered.

Logs carry the op name, request id, duration and error code only — never args or results, which may
hold key material or plaintext.

The socket file is mode 0600 in a directory of mode 0700 (only the enclave's user may connect), or,
with a ``socket_group``, 0660 in a directory of mode 0710 of that group: the API and worker users may
connect, but not replace the socket (docs/deployment.md).
A lock file beside it (``flock``, released by the kernel when the process dies, even by SIGKILL)
tells a live enclave from a stale socket file: a second enclave on the same socket refuses to start,
and a stale socket left by a crash is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import grp
import logging
import os
import socket
import stat
import time
from pathlib import Path
from typing import Any, Final

from neo_service_layer.config.groups import (
    DEFAULT_ENCLAVE_MAX_CONNECTION_BYTES,
    DEFAULT_ENCLAVE_MAX_CONNECTIONS,
    DEFAULT_ENCLAVE_MAX_IN_FLIGHT_BYTES,
)
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.fsutil import ensure_private_dir, ensure_shared_dir
from neo_service_layer.enclave.ops import OpRegistry, execute
from neo_service_layer.enclave.protocol import (
    MAX_FRAME_BYTES,
    BadFrame,
    Busy,
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
    read_frame_length,
    read_frame_payload,
    request_id_of,
)
from neo_service_layer.errors import ConfigurationError
from neo_service_layer.logging import get_logger

log = get_logger("nsl.enclave.server")
# structlog's stdlib BoundLogger runs its processors (time stamp, ...) before the stdlib level check,
# and its lazy proxy binds a new logger per call: ask the stdlib logger first on the per-request path.
_level = logging.getLogger("nsl.enclave.server")

DEFAULT_MAX_IN_FLIGHT: Final = 64
DEFAULT_STOP_GRACE_SECONDS: Final = 10.0
# AF_UNIX sun_path holds 108 bytes including the terminating NUL (unix(7)).
MAX_SOCKET_PATH_BYTES: Final = 107
SOCKET_MODE: Final = 0o600
GROUP_SOCKET_MODE: Final = 0o660


def resolve_group(name: str) -> int:
    """The gid of a group given by name or number; ConfigurationError if there is no such group."""
    if name.isdecimal():
        return int(name)
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError as exc:
        raise ConfigurationError(f"enclave socket group {name!r} does not exist on this machine") from exc


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


def _give_to_group(path: Path, group: int) -> None:
    # No chown(2) when the group is already right (the enclave's own group, as in the systemd unit of
    # docs/deployment.md, whose system call filter leaves chown out).
    if path.lstat().st_gid == group:
        return
    try:
        os.chown(path, -1, group)
    except PermissionError as exc:
        raise ConfigurationError(f"cannot give {path} to group {group}: this process is not in it") from exc


def prepare_socket_path(path: Path, group: int | None = None) -> None:
    """Check the path fits in sun_path, make its directory private (or the group's, 0710), remove a
    stale socket file."""
    if len(os.fsencode(path)) > MAX_SOCKET_PATH_BYTES:
        raise ConfigurationError(
            f"enclave socket path {path} is longer than {MAX_SOCKET_PATH_BYTES} bytes (AF_UNIX limit)"
        )
    if group is None:
        ensure_private_dir(path.parent)
    else:
        ensure_shared_dir(path.parent, group)
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
        # Request bytes read and not yet answered (guarded by the event loop, like the server's total).
        self.in_flight_bytes = 0

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
        max_connections: int = DEFAULT_ENCLAVE_MAX_CONNECTIONS,
        max_in_flight_bytes: int = DEFAULT_ENCLAVE_MAX_IN_FLIGHT_BYTES,
        max_connection_bytes: int = DEFAULT_ENCLAVE_MAX_CONNECTION_BYTES,
        socket_group: int | None = None,
        stop_grace_seconds: float = DEFAULT_STOP_GRACE_SECONDS,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        # Every legal frame must fit in an idle connection's budget, or some requests could never run.
        if not MAX_FRAME_BYTES <= max_connection_bytes <= max_in_flight_bytes:
            raise ValueError("need MAX_FRAME_BYTES <= max_connection_bytes <= max_in_flight_bytes")
        self.ctx = ctx
        self.registry = registry
        self.path = path
        self._lock = lock or SocketLock(path)
        self._max_in_flight = max_in_flight
        self._max_connections = max_connections
        self._max_in_flight_bytes = max_in_flight_bytes
        self._max_connection_bytes = max_connection_bytes
        self._socket_group = socket_group
        self._stop_grace = stop_grace_seconds
        # Request bytes read and not yet answered, over all connections (guarded by the event loop:
        # checked and added with no await in between).
        self._in_flight_bytes = 0
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._stopping = False

    @property
    def serving(self) -> bool:
        return self._server is not None and not self._stopping

    @property
    def connections(self) -> int:
        return len(self._connections)

    @property
    def in_flight_bytes(self) -> int:
        return self._in_flight_bytes

    async def start(self) -> None:
        """Lock, clean up, bind (mode 0600, or 0660 in the socket group) and listen."""
        if self._server is not None:
            return
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self._lock.held:
            self._lock.acquire()
        try:
            prepare_socket_path(self.path, self._socket_group)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(os.fspath(self.path))
                # The directory is 0700 (or 0710 of the group) and ours, so nobody else can reach the
                # socket in the moment between bind (which applies the umask) and this chmod.
                if self._socket_group is None:
                    os.chmod(self.path, SOCKET_MODE)
                else:
                    _give_to_group(self.path, self._socket_group)
                    os.chmod(self.path, GROUP_SOCKET_MODE)
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
        if len(self._connections) >= self._max_connections:
            await self._refuse(writer, f"the enclave serves at most {self._max_connections} connections")
            if task is not None:
                self._handlers.discard(task)
            return
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

    async def _refuse(self, writer: asyncio.StreamWriter, detail: str) -> None:
        """Answer a connection over the limit with one ``busy`` frame and close it."""
        log.warning("enclave busy", limit="connections", connections=len(self._connections))
        with contextlib.suppress(ConnectionError, OSError):
            writer.write(encode_frame(error_response(None, Busy(detail))))
            writer.close()
            await writer.wait_closed()

    def _reserve(self, conn: _Connection, length: int) -> str | None:
        """Count ``length`` request bytes against both budgets, or say which one it would overdraw."""
        if conn.in_flight_bytes + length > self._max_connection_bytes:
            return f"this connection already has {conn.in_flight_bytes} request bytes in flight"
        if self._in_flight_bytes + length > self._max_in_flight_bytes:
            return f"the enclave already has {self._in_flight_bytes} request bytes in flight"
        conn.in_flight_bytes += length
        self._in_flight_bytes += length
        return None

    def _release(self, conn: _Connection, length: int) -> None:
        conn.in_flight_bytes -= length
        self._in_flight_bytes -= length

    async def _read_loop(
        self, conn: _Connection, reader: asyncio.StreamReader, slots: asyncio.Semaphore
    ) -> None:
        while True:
            try:
                length = await read_frame_length(reader)
                if length is None:
                    return
                overdrawn = self._reserve(conn, length)
                if overdrawn is not None:
                    log.warning("enclave busy", limit="bytes", frame_bytes=length, reason=overdrawn)
                    await conn.send(
                        error_response(None, Busy(f"{overdrawn}; a {length}-byte frame is refused"))
                    )
                    return
                try:
                    request = await self._read_request(conn, reader, length)
                except BaseException:
                    self._release(conn, length)
                    raise
            except BadFrame as exc:
                log.warning("enclave request rejected", code=str(exc.code), reason=exc.detail[:200])
                await conn.send(error_response(None, exc))
                return
            except (ConnectionError, OSError):
                return
            if request is None:
                self._release(conn, length)
                continue
            await slots.acquire()
            task = asyncio.create_task(self._serve(conn, request))
            conn.tasks.add(task)
            task.add_done_callback(conn.tasks.discard)
            task.add_done_callback(functools.partial(self._request_done, conn, slots, length))

    def _request_done(
        self, conn: _Connection, slots: asyncio.Semaphore, length: int, _: asyncio.Task[None]
    ) -> None:
        slots.release()
        self._release(conn, length)

    async def _read_request(
        self, conn: _Connection, reader: asyncio.StreamReader, length: int
    ) -> Request | None:
        """The request in the next ``length`` bytes, or None once an invalid envelope has been answered."""
        message = decode_message(await read_frame_payload(reader, length))
        request_id = request_id_of(message)
        try:
            return parse_request(message)
        except EnclaveError as exc:
            log.warning("enclave request rejected", id=request_id, code=str(exc.code))
            await conn.send(error_response(request_id, exc))
            return None

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
        if code != "ok":
            log.info("enclave op", op=request.op, id=request.id, duration_ms=duration_ms, code=code)
        elif _level.isEnabledFor(logging.DEBUG):
            log.debug("enclave op", op=request.op, id=request.id, duration_ms=duration_ms, code=code)
        await conn.send(response)

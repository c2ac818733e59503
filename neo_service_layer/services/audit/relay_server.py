"""The single audit writer's side of the relay: the process's :class:`AuditWriter`, unchanged, behind a
Unix socket that the API workers of ``nsl api --workers N`` on SQLite send their entries to (``relay``).

Each frame becomes one ``writer.submit``; its answer (the frame's number, committed or failed) is
written by a callback when the entry's future is done (no task per entry: the writer's CPU per entry
fell by about a sixth, 80-108 to 71-94 µs in ``bench/audit_relay.py``). Answers ready within one
event-loop turn go out in one ``write``. A frame that is not an event (``relay_frames.BadFrame``)
closes its connection and only it: the entries that connection sent before it are still committed, and
other workers' connections do not notice. A closed connection does not cancel its entries either:
whatever reached the writer is committed (or fails) as its batch does, whether or not anyone is left
to hear it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
from pathlib import Path

from neo_service_layer.config import Settings
from neo_service_layer.db.session import Database
from neo_service_layer.logging import get_logger
from neo_service_layer.services.audit.chain import AuditEvent
from neo_service_layer.services.audit.relay_frames import (
    ANSWER,
    COMMITTED,
    FAILED,
    BadFrame,
    TurnBatchedProtocol,
    decode_event,
    split_frames,
)
from neo_service_layer.services.audit.writer import AuditWriter, configured_writer

log = get_logger("nsl.audit.relay")


class _WriterConnection(TurnBatchedProtocol):
    """One worker's connection: frames in, each submitted to the writer, answers out."""

    def __init__(
        self,
        writer: AuditWriter,
        pending: set[asyncio.Future[None]],
        connections: set[_WriterConnection],
    ) -> None:
        super().__init__()
        self._writer = writer
        # The server's entries not yet answered and open connections (it ends both on stop); guarded
        # by the loop.
        self._pending = pending
        self._connections = connections
        self._buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            for seq, body in split_frames(self._buffer):
                if not body:
                    self._answer(seq, COMMITTED)  # a ping
                    continue
                self._submit(seq, decode_event(body))
        except BadFrame as exc:
            log.warning("audit_relay_bad_frame", detail=str(exc))
            self._buffer.clear()
            self.close()

    def _submit(self, seq: int, event: AuditEvent) -> None:
        try:
            done = self._writer.submit(event)
        except asyncio.QueueFull:  # back-pressure: this one waits for room, as a task
            done = asyncio.ensure_future(self._writer.append(event))
        except Exception:  # not running (stopping): the client's AuditWriteFailed
            self._answer(seq, FAILED)
            return
        self._pending.add(done)
        done.add_done_callback(functools.partial(self._answer_done, seq))

    def _answer_done(self, seq: int, done: asyncio.Future[None]) -> None:
        self._pending.discard(done)
        # Any failure is the client's AuditWriteFailed; the writer logged it. Reading the exception
        # also marks it retrieved.
        failed = done.cancelled() or done.exception() is not None
        self._answer(seq, FAILED if failed else COMMITTED)

    def _answer(self, seq: int, status: int) -> None:
        self.write_this_turn(ANSWER.pack(seq, status))


class AuditRelayServer:
    """Serves ``writer`` (the process's :class:`AuditWriter`) on the Unix socket ``path``."""

    def __init__(self, writer: AuditWriter, path: Path) -> None:
        self._writer = writer
        self._path = path
        self._server: asyncio.AbstractServer | None = None
        self._pending: set[asyncio.Future[None]] = set()
        self._connections: set[_WriterConnection] = set()

    async def start(self) -> None:
        """Listen on ``path`` (a stale socket of a dead writer is replaced), readable by this user only."""
        if self._server is not None:
            return
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_unix_server(
            lambda: _WriterConnection(self._writer, self._pending, self._connections), str(self._path)
        )
        self._path.chmod(0o600)

    async def stop(self) -> None:
        """Stop listening, wait for every append received to be committed (or failed) and answered,
        then close the connections (safe to call twice)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        # The done callbacks (the answers) and then their flush run in the next turns, both call_soon.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        for connection in list(self._connections):
            connection.close()


async def serve_audit_writer(settings: Settings, path: Path) -> None:
    """The audit-writer process: its :class:`AuditWriter` on ``path`` until SIGTERM or SIGINT, then
    every entry received is committed (or failed) and answered before it returns."""
    db = Database(settings.effective_database_url)
    writer = configured_writer(db, settings)
    relay = AuditRelayServer(writer, path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await writer.start()
        await relay.start()
        log.info("audit_writer_serving", path=str(path), pid=os.getpid())
        await stop.wait()
    finally:
        await relay.stop()
        await writer.stop()
        await db.dispose()
    log.info("audit_writer_stopped", entries=writer.entries, batches=writer.batches)

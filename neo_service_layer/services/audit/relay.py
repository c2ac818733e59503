"""The worker's side of the single audit writer (``nsl api --workers N`` on SQLite): an :class:`AuditSink`
that hands each entry to the writer process over a local Unix socket and returns once its batch
committed.

SQLite has one writer for the whole database: N API processes each group-committing its own entries
would queue for its lock with a busy timeout. So there the supervisor runs one :class:`AuditWriter` in a
process of its own (``relay_server``) and every worker sends it its entries: one lock holder, full
batches. (On PostgreSQL each worker appends its own batches and the database chains them under the
head's row lock, ``pg_batch``: cheaper than this hand-over, docs/performance.md, "Eighth round".)

One persistent connection per worker, pipelined: every append writes its frame (sequence-numbered,
``relay_frames``) and waits for the answer with that number. The frames written within one event-loop
turn go out in one ``write``. Fail closed: a failure answer raises :class:`AuditWriteFailed`; a broken
connection, no writer to connect to, or no answer within ``timeout_seconds`` raise
:class:`AuditWriterUnavailable` (503) for every entry in flight, none reported committed. The next
append connects again, so the workers recover by themselves when the supervisor replaces the writer.

A cancelled request stops waiting but its frame, once written, is the writer's: it is committed or
not, never twice (the same as :meth:`AuditWriter.append`: an entry may outlive its response, never
the other way round).
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from neo_service_layer.config.groups import DEFAULT_AUDIT_RELAY_TIMEOUT_SECONDS
from neo_service_layer.logging import get_logger
from neo_service_layer.services.audit.chain import AuditEvent
from neo_service_layer.services.audit.errors import AuditWriteFailed, AuditWriterUnavailable
from neo_service_layer.services.audit.relay_frames import ANSWER, COMMITTED, TurnBatchedProtocol, encode_event

# The status of an entry whose connection broke before its answer came.
_LOST = -1

log = get_logger("nsl.audit.relay")


class _Connection(TurnBatchedProtocol):
    """One connection to the writer: frames out (one write per loop turn), answers matched by number."""

    def __init__(self) -> None:
        super().__init__()
        # Guarded by the event loop: sequence number -> the future its answer resolves.
        self.waiting: dict[int, asyncio.Future[int]] = {}
        self.lost = False
        self._buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        whole = len(self._buffer) - len(self._buffer) % ANSWER.size
        for seq, status in ANSWER.iter_unpack(memoryview(self._buffer)[:whole]):
            waiter = self.waiting.pop(seq, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(status)
        del self._buffer[:whole]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        waiting, self.waiting = self.waiting, {}
        for waiter in waiting.values():
            if not waiter.done():
                waiter.set_result(_LOST)
        if waiting:
            log.warning("audit_relay_connection_lost", in_flight=len(waiting), error=str(exc or "closed"))


class AuditRelayClient:
    """One per worker process: sends audit entries to the single writer; ``append`` returns once committed."""

    def __init__(
        self, socket_path: Path, *, timeout_seconds: float = DEFAULT_AUDIT_RELAY_TIMEOUT_SECONDS
    ) -> None:
        self._path = socket_path
        self._timeout = timeout_seconds
        self._seq = itertools.count(1)
        self._connection: _Connection | None = None
        # Guards the connect: concurrent first appends (or those after a break) share one connection.
        self._connecting = asyncio.Lock()
        self._closed = False

    async def start(self) -> None:
        """Nothing to start: the connection opens with the first append (the writer may be restarting)."""

    async def stop(self) -> None:
        """Close the connection (safe to call twice). Entries still in flight fail as unavailable."""
        self._closed = True
        if self._connection is not None:
            self._connection.close()

    async def append(self, event: AuditEvent) -> None:
        """Return once ``event`` is committed by the writer.

        Raises:
            AuditWriteFailed: the writer's batch holding it did not commit.
            AuditWriterUnavailable: no writer, the connection broke, or no answer within the timeout.
        """
        connection = await self._connected()
        if connection.lost:  # broke while we were resumed: nothing would ever answer (no await below)
            raise AuditWriterUnavailable("the connection to the audit writer broke")
        seq = next(self._seq)
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        connection.waiting[seq] = answer
        connection.write_this_turn(encode_event(seq, event))
        try:
            # The shield: a cancelled request stops waiting, and its answer is still taken off the wire.
            async with asyncio.timeout(self._timeout):
                status = await asyncio.shield(answer)
        except TimeoutError:
            connection.waiting.pop(seq, None)
            raise AuditWriterUnavailable("the audit writer did not answer in time") from None
        if status == _LOST:
            raise AuditWriterUnavailable("the connection to the audit writer broke")
        if status != COMMITTED:
            raise AuditWriteFailed("the audit entry could not be written")

    async def _connected(self) -> _Connection:
        connection = self._connection
        if connection is not None and not connection.lost:
            return connection
        async with self._connecting:
            if self._closed:
                raise AuditWriterUnavailable("the audit relay is closed (the server is shutting down)")
            if self._connection is None or self._connection.lost:
                try:
                    _, protocol = await asyncio.get_running_loop().create_unix_connection(
                        _Connection, str(self._path)
                    )
                except OSError as exc:
                    raise AuditWriterUnavailable(f"no audit writer at {self._path}") from exc
                self._connection = protocol
            return self._connection

"""The audit relay's wire format: what a worker sends the single audit writer, and what it answers.

A request is a frame: a 4-byte big-endian length, then an 8-byte big-endian sequence number (the
client's, unique on its connection) and the event as an orjson array of its fields. An empty event
is a ping, answered at once. An answer is fixed-size, so it needs no length: the sequence number it
answers and one status byte. Answers come in any order (a batch commits many events at once), so the
client matches them by number.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator
from typing import Any, cast

import orjson

from neo_service_layer.db.models import Outcome
from neo_service_layer.services.audit.chain import AuditEvent

_LENGTH = struct.Struct(">I")
_SEQ = struct.Struct(">Q")
ANSWER = struct.Struct(">QB")
#: An entry is a few hundred bytes; anything this large is not one (refused as a bad frame).
MAX_FRAME_BYTES = 1 << 20
COMMITTED = 0
FAILED = 1


class TurnBatchedProtocol(asyncio.Protocol):
    """Both ends of the relay: what is written within one event-loop turn (a batch's answers, the frames of
    the requests a turn served) goes out in one ``write``, not one each."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._outgoing: list[bytes] = []  # guarded by the event loop

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def write_this_turn(self, data: bytes) -> None:
        """Queue ``data`` for the write at the end of this event-loop turn."""
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outgoing.append(data)

    def _flush(self) -> None:
        outgoing, self._outgoing = self._outgoing, []
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(outgoing))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class BadFrame(ValueError):
    """A frame that is not an audit event: its connection is closed, nothing of it is written."""


def encode_event(seq: int, event: AuditEvent) -> bytes:
    """The frame that asks the writer to commit ``event`` as request ``seq``."""
    body = orjson.dumps(
        [
            event.actor,
            event.action,
            event.resource,
            event.outcome.value,
            event.status_code,
            event.request_id,
            event.account_id,
            event.details,
        ]
    )
    return _LENGTH.pack(_SEQ.size + len(body)) + _SEQ.pack(seq) + body


def encode_ping(seq: int) -> bytes:
    """A frame with no event: the writer answers it at once (a health check)."""
    return _LENGTH.pack(_SEQ.size) + _SEQ.pack(seq)


def split_frames(buffer: bytearray) -> Iterator[tuple[int, bytes]]:
    """Take every whole frame off the front of ``buffer``: ``(seq, body)`` pairs (empty body: a ping),
    each yielded before the next is looked at, so the frames before a bad one are still taken.

    Raises:
        BadFrame: a length out of bounds (the stream cannot be resynchronized after it).
    """
    offset = 0
    try:
        while len(buffer) - offset >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(buffer, offset)
            if not _SEQ.size <= length <= MAX_FRAME_BYTES:
                raise BadFrame(f"frame length {length} out of bounds")
            end = offset + _LENGTH.size + length
            if len(buffer) < end:
                break
            (seq,) = _SEQ.unpack_from(buffer, offset + _LENGTH.size)
            body = bytes(buffer[offset + _LENGTH.size + _SEQ.size : end])
            offset = end
            yield seq, body
    finally:
        del buffer[:offset]


def decode_event(body: bytes) -> AuditEvent:
    """The event a frame's body carries.

    Raises:
        BadFrame: not JSON, or not the eight fields with their types.
    """
    try:
        fields: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadFrame("the event is not JSON") from exc
    if not isinstance(fields, list) or len(fields) != 8:
        raise BadFrame("the event is not an array of eight fields")
    actor, action, resource, outcome, status_code, request_id, account_id, details = fields
    if not all(isinstance(text, str) for text in (actor, action, resource, outcome, request_id)):
        raise BadFrame("actor, action, resource, outcome and request_id must be strings")
    if type(status_code) is not int or not (account_id is None or isinstance(account_id, str)):
        raise BadFrame("status_code must be an integer and account_id a string or null")
    if not (details is None or isinstance(details, dict)):
        raise BadFrame("details must be an object or null")
    try:
        parsed = Outcome(outcome)
    except ValueError as exc:
        raise BadFrame(f"unknown outcome {outcome!r}") from exc
    return AuditEvent(actor, action, resource, parsed, status_code, request_id, account_id, details)

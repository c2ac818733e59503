"""The audit relay in one process: the real writer (``AuditWriter`` behind ``AuditRelayServer``) on a
real Unix socket, real clients. Pipelined entries commit once each and chain; a garbage frame closes
only its own connection; a failed batch, a broken connection and a missing writer fail closed.
The same with real processes (``nsl api --workers 2``): tests/api/test_server_workers_relay.py."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from neo_service_layer.db.session import Database
from neo_service_layer.services.audit.errors import AuditWriteFailed, AuditWriterUnavailable
from neo_service_layer.services.audit.relay import AuditRelayClient
from neo_service_layer.services.audit.relay_frames import (
    ANSWER,
    MAX_FRAME_BYTES,
    BadFrame,
    decode_event,
    encode_event,
    split_frames,
)
from neo_service_layer.services.audit.relay_server import AuditRelayServer
from neo_service_layer.services.audit.writer import AuditWriter
from tests.services.audit.helpers import without_audit_head
from tests.services.audit.test_writer import EVENT, chain_ok, events, stored


@pytest.fixture
def socket_path() -> Iterator[Path]:
    # Not under tmp_path: a Unix socket's path must fit in 108 bytes.
    directory = Path(tempfile.mkdtemp(prefix="nsl-relay-"))
    yield directory / "audit.sock"
    shutil.rmtree(directory, ignore_errors=True)


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A writer that takes every frame and answers none."""
    await reader.read()


@pytest.fixture
async def relay(writer: AuditWriter, socket_path: Path) -> AsyncIterator[AuditRelayServer]:
    server = AuditRelayServer(writer, socket_path)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(socket_path: Path) -> AsyncIterator[AuditRelayClient]:
    relay_client = AuditRelayClient(socket_path)
    await relay_client.start()
    yield relay_client
    await relay_client.stop()


async def request_ids(db: Database) -> Counter[str]:
    return Counter(entry.request_id for entry in await stored(db))


async def test_pipelined_entries_of_several_clients_commit_once_each_in_one_chain(
    db: Database, writer: AuditWriter, relay: AuditRelayServer, socket_path: Path
) -> None:
    clients = [AuditRelayClient(socket_path) for _ in range(3)]
    batch = events(90)
    try:
        await asyncio.gather(*(clients[n % 3].append(event) for n, event in enumerate(batch)))
    finally:
        for relay_client in clients:
            await relay_client.stop()
    assert await request_ids(db) == Counter(event.request_id for event in batch)
    assert await chain_ok(db)
    # The entries of the three connections shared the writer's batches.
    assert writer.entries == 90
    assert writer.batches < 90
    assert os.stat(socket_path).st_mode & 0o777 == 0o600  # only the service user connects


async def test_entries_beyond_the_writers_queue_wait_for_room_and_commit(
    db: Database, socket_path: Path
) -> None:
    # A queue of 2 with 40 entries arriving at once: most take the back-pressure path (a task that
    # waits for room), none is refused or lost.
    writer = AuditWriter(db, max_batch=2, max_queue=2)
    await writer.start()
    relay = AuditRelayServer(writer, socket_path)
    await relay.start()
    client = AuditRelayClient(socket_path)
    batch = events(40)
    try:
        await asyncio.gather(*(client.append(event) for event in batch))
    finally:
        await client.stop()
        await relay.stop()
        await writer.stop()
    assert await request_ids(db) == Counter(event.request_id for event in batch)
    assert await chain_ok(db)


async def test_a_stopped_writer_fails_the_clients_entries(
    db: Database, socket_path: Path, client: AuditRelayClient
) -> None:
    writer = AuditWriter(db)
    await writer.start()
    relay = AuditRelayServer(writer, socket_path)
    await relay.start()
    try:
        await writer.stop()  # the relay still listens; the writer refuses
        with pytest.raises(AuditWriteFailed):
            await client.append(EVENT)
    finally:
        await relay.stop()
    assert await request_ids(db) == Counter()


async def test_the_event_crosses_the_socket_unchanged(
    db: Database, relay: AuditRelayServer, client: AuditRelayClient
) -> None:
    event = replace(EVENT, details={"key_id": "key_1", "nested": {"n": [1, 2.5, None, True]}})
    await client.append(event)
    (entry,) = await stored(db)
    assert (entry.actor, entry.action, entry.resource, entry.outcome, entry.status_code) == (
        event.actor,
        event.action,
        event.resource,
        event.outcome,
        event.status_code,
    )
    assert (entry.request_id, entry.account_id, entry.details) == (
        event.request_id,
        event.account_id,
        event.details,
    )


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"\xff\xff\xff\xff" + b"x" * 12, id="length-too-large"),
        pytest.param(b"\x00\x00\x00\x02ab", id="length-too-small"),
        pytest.param(b"\x00\x00\x00\x0c" + b"\x00" * 8 + b"nope", id="not-json"),
        pytest.param(b"\x00\x00\x00\x0e" + b"\x00" * 8 + b"[1,2,3]", id="wrong-fields"),
    ],
)
async def test_a_garbage_frame_closes_only_its_connection(
    db: Database, relay: AuditRelayServer, client: AuditRelayClient, socket_path: Path, garbage: bytes
) -> None:
    reader, raw = await asyncio.open_unix_connection(str(socket_path))
    # A good frame first, then garbage on the same connection: the good one is still committed.
    raw.write(encode_event(1, replace(EVENT, request_id="req_before")) + garbage)
    await raw.drain()
    received = await reader.read()  # until the writer closes the connection
    raw.close()
    # The good frame's answer may or may not have left before the close; never one for the garbage.
    assert received in (b"", ANSWER.pack(1, 0))
    # The other client, and the writer, carry on.
    await asyncio.gather(*(client.append(event) for event in events(5)))
    # The frame before the garbage was handed to the writer: committed even though nobody heard.
    for _ in range(100):
        if "req_before" in await request_ids(db):
            break
        await asyncio.sleep(0.05)
    assert await request_ids(db) == Counter(["req_before", *(f"req_{n}" for n in range(5))])
    assert await chain_ok(db)


async def test_a_failed_batch_fails_the_clients_entries(
    db: Database, relay: AuditRelayServer, client: AuditRelayClient
) -> None:
    async with without_audit_head(db):
        results = await asyncio.gather(*(client.append(e) for e in events(10)), return_exceptions=True)
    assert all(type(result) is AuditWriteFailed for result in results), results
    assert await stored(db) == []
    # The same connection carries on.
    await client.append(EVENT)
    assert await request_ids(db) == Counter(["req_0"])


async def test_a_broken_connection_fails_every_entry_in_flight(socket_path: Path) -> None:
    # A writer that takes the frames and goes away before answering any.
    received = bytearray()
    got_all = asyncio.Event()

    async def take_and_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while not got_all.is_set():
            received.extend(await reader.read(65536))
            if len(list(split_frames(bytearray(received)))) == 10:
                got_all.set()
        writer.close()

    server = await asyncio.start_unix_server(take_and_hang_up, str(socket_path))
    client = AuditRelayClient(socket_path)
    try:
        results = await asyncio.gather(*(client.append(e) for e in events(10)), return_exceptions=True)
    finally:
        await client.stop()
        server.close()
    assert got_all.is_set()
    assert all(isinstance(result, AuditWriterUnavailable) for result in results), results


async def test_no_writer_fails_closed_and_the_client_reconnects_once_one_listens(
    db: Database, writer: AuditWriter, client: AuditRelayClient, socket_path: Path
) -> None:
    with pytest.raises(AuditWriterUnavailable) as refused:
        await client.append(EVENT)
    assert refused.value.status == 503
    relay = AuditRelayServer(writer, socket_path)
    await relay.start()
    try:
        await client.append(replace(EVENT, request_id="req_later"))
        # A writer restarted under the same path: the client sees the break and connects again.
        await relay.stop()
        relay = AuditRelayServer(writer, socket_path)
        with pytest.raises(AuditWriterUnavailable):  # the broken connection, or nobody listening
            await client.append(replace(EVENT, request_id="req_between"))
        await relay.start()
        await client.append(replace(EVENT, request_id="req_again"))
    finally:
        await relay.stop()
    ids = await request_ids(db)
    assert ids["req_later"] == ids["req_again"] == 1
    assert "req_0" not in ids
    assert "req_between" not in ids
    assert await chain_ok(db)


async def test_no_answer_in_time_fails_closed(socket_path: Path) -> None:
    server = await asyncio.start_unix_server(never_answer, str(socket_path))
    client = AuditRelayClient(socket_path, timeout_seconds=0.2)
    try:
        with pytest.raises(AuditWriterUnavailable, match="in time"):
            await client.append(EVENT)
    finally:
        await client.stop()
        server.close()


async def test_a_cancelled_append_still_commits_its_entry_once(
    db: Database, relay: AuditRelayServer, client: AuditRelayClient
) -> None:
    await client.append(replace(EVENT, request_id="req_first"))  # connected
    waiting = asyncio.create_task(client.append(EVENT))
    await asyncio.sleep(0)  # its frame is queued for the wire
    waiting.cancel()
    await client.append(replace(EVENT, request_id="req_after"))
    assert await request_ids(db) == Counter(["req_first", "req_0", "req_after"])


def test_frames_round_trip_and_bad_lengths_are_refused() -> None:
    buffer = bytearray(encode_event(7, EVENT) + encode_event(8, replace(EVENT, details={"a": 1})))
    buffer += encode_event(9, EVENT)[:5]  # a partial frame stays in the buffer
    (seq_a, body_a), (seq_b, body_b) = list(split_frames(buffer))
    assert (seq_a, decode_event(body_a)) == (7, EVENT)
    assert (seq_b, decode_event(body_b).details) == (8, {"a": 1})
    assert len(buffer) == 5
    with pytest.raises(BadFrame, match="out of bounds"):
        list(split_frames(bytearray((MAX_FRAME_BYTES + 1).to_bytes(4, "big") + b"\x00" * 8)))

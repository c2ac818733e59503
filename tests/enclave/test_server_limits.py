"""The enclave's limits over real sockets: connections beyond the limit and frames beyond the byte budgets
(per connection, per server) get ``busy`` and are closed, never buffered; everything accepted is still
answered, and the enclave keeps serving normal clients after the flood."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from neo_service_layer.config import Settings
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.protocol import HEADER_BYTES, MAX_FRAME_BYTES
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.errors import EnclaveBusy, EnclaveUnavailable
from tests.enclave import testops
from tests.enclave.test_run_enclave import NO_HARDWARE, running
from tests.enclave.test_server import assert_still_serving, next_response, raw_connection, request

MIB = 1024 * 1024
MAX_CONNECTIONS = 4
CONNECTION_BYTES = MAX_FRAME_BYTES  # the smallest budget allowed: one largest frame
SERVER_BYTES = 2 * MAX_FRAME_BYTES
WAIT_STEPS = 1000  # polls of 10 ms at most, for what the server does on its own time


def hold(request_id: int, tag: str, frame_bytes: int) -> bytes:
    """A ``test.hold`` request frame of exactly ``frame_bytes`` bytes (header included)."""
    empty = request(request_id, "test.hold", {"tag": tag, "pad": ""})
    return request(request_id, "test.hold", {"tag": tag, "pad": "x" * max(0, frame_bytes - len(empty))})


def busy(response: dict[str, Any] | None) -> bool:
    return response is not None and response["id"] is None and response["error"]["code"] == "busy"


async def hung_up(reader: asyncio.StreamReader) -> bool:
    """Whether the server has closed the stream: end of stream, or a reset when request bytes it
    never read were still queued (AF_UNIX, like TCP, then resets; what it sent before is still read)."""
    try:
        return await next_response(reader) is None
    except ConnectionResetError:
        return True


async def until(condition: Any) -> None:
    for _ in range(WAIT_STEPS):
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail("the server did not get there")


@pytest.fixture
def tag() -> str:
    return f"hold-{secrets.token_hex(4)}"


@pytest.fixture
async def limited(
    ctx: EnclaveContext, registry: OpRegistry, socket_path: Path
) -> AsyncIterator[EnclaveServer]:
    server = EnclaveServer(
        ctx,
        registry,
        socket_path,
        max_connections=MAX_CONNECTIONS,
        max_in_flight_bytes=SERVER_BYTES,
        max_connection_bytes=CONNECTION_BYTES,
        stop_grace_seconds=2.0,
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def ping(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request_id: int) -> None:
    writer.write(request(request_id, "ping"))
    await writer.drain()
    response = await next_response(reader)
    assert response is not None
    assert (response["id"], response["ok"]) == (request_id, True)


async def test_connections_beyond_the_limit_get_busy_and_are_closed(limited: EnclaveServer) -> None:
    held = [await asyncio.open_unix_connection(limited.path) for _ in range(MAX_CONNECTIONS)]
    for n, (reader, writer) in enumerate(held):
        await ping(reader, writer, n)

    async def refused() -> bool:
        async with raw_connection(limited.path) as (reader, _):
            first = await next_response(reader)
            return busy(first) and await hung_up(reader)

    assert all(await asyncio.gather(*(refused() for _ in range(50))))  # a flood of connections
    assert limited.connections == MAX_CONNECTIONS
    await ping(*held[0], 99)  # the accepted ones are still served

    held[-1][1].close()  # one goes away: its place is free again
    await until(lambda: limited.connections < MAX_CONNECTIONS)
    await assert_still_serving(limited.path)
    for _, writer in held[:-1]:
        writer.close()


async def test_a_connection_over_its_byte_budget_gets_busy_and_the_rest_is_answered(
    limited: EnclaveServer, tag: str
) -> None:
    first = hold(1, tag, 5 * MIB)
    async with raw_connection(limited.path) as (reader, writer), raw_connection(limited.path) as other:
        # Pipelined: 5 MiB held, then 5 MiB more would be 10 MiB on one connection (budget 8 MiB).
        # No drain: the server never reads the second payload, so it would never drain.
        writer.write(first + hold(2, tag, 5 * MIB))
        assert busy(await next_response(reader))
        assert limited.in_flight_bytes == len(first) - HEADER_BYTES  # only the first frame was taken
        await ping(*other, 7)  # another connection is not affected
        testops.gate(tag).set()
        answered = await next_response(reader)
        assert answered is not None
        assert (answered["id"], answered["result"]) == (1, {"tag": tag})
        assert await hung_up(reader)  # then the busy connection is closed
    await until(lambda: limited.in_flight_bytes == 0)
    await assert_still_serving(limited.path)


async def test_the_server_budget_is_shared_and_refuses_the_frame_that_would_overdraw_it(
    limited: EnclaveServer, tag: str
) -> None:
    async with (
        raw_connection(limited.path) as a,
        raw_connection(limited.path) as b,
        raw_connection(limited.path) as c,
        raw_connection(limited.path) as d,
    ):
        for n, (reader, writer) in enumerate((a, b)):
            writer.write(hold(n, tag, 6 * MIB))
            await ping(reader, writer, 10 + n)  # answered after the hold frame was read: 6 MiB taken
        # 12 MiB are in flight: 6 more would overdraw the server's 16 MiB, though c's own budget is free.
        c[1].write(hold(3, tag, 6 * MIB))
        assert busy(await next_response(c[0]))
        assert await hung_up(c[0])
        await ping(*d, 20)  # a small request still fits
        testops.gate(tag).set()
        for n, (reader, _) in enumerate((a, b)):
            answered = await next_response(reader)
            assert answered is not None
            assert (answered["id"], answered["ok"]) == (n, True)
    await until(lambda: limited.in_flight_bytes == 0)


async def test_the_client_reports_busy_as_a_503_of_its_own(limited: EnclaveServer) -> None:
    held = [await asyncio.open_unix_connection(limited.path) for _ in range(MAX_CONNECTIONS)]
    for n, (reader, writer) in enumerate(held):
        await ping(reader, writer, n)
    client = UnixEnclaveClient(limited.path, timeout=5.0, pool_size=1)
    try:
        with pytest.raises(EnclaveBusy) as caught:
            await client.ping()
        assert isinstance(caught.value, EnclaveUnavailable)
        assert (caught.value.status, caught.value.code) == (503, "enclave_busy")
        for _, writer in held:
            writer.close()
        await until(lambda: limited.connections == 0)
        assert (await client.ping()).protocol_version == 1  # a fresh connection once there is room
    finally:
        await client.close()


async def test_the_client_fails_only_the_request_the_enclave_refused(
    limited: EnclaveServer, tag: str
) -> None:
    client = UnixEnclaveClient(limited.path, timeout=10.0, pool_size=1)
    try:
        # All but 10 bytes of the budget held on the one pooled connection: the next request overdraws it.
        overhead = len(hold(1, tag, 0)) - HEADER_BYTES
        args = testops.HoldArgs(tag=tag, pad="x" * (CONNECTION_BYTES - overhead - 10))
        with structlog.testing.capture_logs() as logs:
            held = asyncio.create_task(client.run(testops.HOLD, args))
            refused = asyncio.create_task(client.ping())
            await until(lambda: any(entry["event"] == "enclave busy" for entry in logs))
            testops.gate(tag).set()
            assert (await held).tag == tag
            with pytest.raises(EnclaveBusy):
                await refused
        assert (await client.ping()).protocol_version == 1
    finally:
        await client.close()


async def test_nsl_enclave_applies_the_limits_from_the_settings(short_dir: Path) -> None:
    settings = Settings(data_dir=short_dir, enclave={"max_connections": 1})
    async with running(settings, NO_HARDWARE):  # its client holds the one connection
        second = UnixEnclaveClient(settings.effective_enclave_socket, timeout=5.0, pool_size=1)
        try:
            with pytest.raises(EnclaveBusy):
                await second.ping()
        finally:
            await second.close()


@pytest.mark.parametrize(
    ("connection_bytes", "server_bytes"),
    [
        pytest.param(MAX_FRAME_BYTES - 1, SERVER_BYTES, id="connection-below-one-frame"),
        pytest.param(SERVER_BYTES, SERVER_BYTES - 1, id="connection-above-server"),
    ],
)
def test_budgets_that_could_never_serve_a_legal_frame_are_refused(
    ctx: EnclaveContext, registry: OpRegistry, socket_path: Path, connection_bytes: int, server_bytes: int
) -> None:
    with pytest.raises(ValueError, match="max_connection_bytes"):
        EnclaveServer(
            ctx,
            registry,
            socket_path,
            max_connection_bytes=connection_bytes,
            max_in_flight_bytes=server_bytes,
        )

"""The Unix-socket enclave client: typed calls, error mapping, timeouts, reconnecting after a restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from neo_service_layer.client.attestation import verify_attestation, verify_result
from neo_service_layer.enclave.client import Signed, UnixEnclaveClient, error_from_response
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.opdefs.base import Op
from neo_service_layer.enclave.opdefs.builtin import PING
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.protocol import encode_frame, read_frame
from neo_service_layer.enclave.schemas import NoArgs, PingResult
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.errors import (
    EnclaveBusy,
    EnclaveCryptoFailed,
    EnclaveKeyUnusable,
    EnclavePreconditionFailed,
    EnclaveRejected,
    EnclaveUnavailable,
)
from tests.enclave import testops


async def test_built_in_ops(client: UnixEnclaveClient, ctx: EnclaveContext) -> None:
    ping = await client.ping()
    assert (ping.protocol_version, ping.backend, ping.tee) == (1, "software", "none")
    assert await client.attest() == ctx.report
    created = await client.amk_create("acc_1", 3)
    assert (created.account_id, created.version) == ("acc_1", 3)
    assert len(ctx.open_amk("acc_1", 3, created.sealed)) == 32


async def test_signed_call_verifies_offline(client: UnixEnclaveClient) -> None:
    signed = await client.run(testops.SUM, testops.SumArgs(account_id="acc_9", numbers=[4, 5]))
    assert isinstance(signed, Signed)
    assert signed.result.total == 9
    identity = verify_attestation((await client.attest()).model_dump(mode="json"), allow_software=True)
    request = {"op": "test.sum", "account_id": "acc_9", "params": {"numbers": [4, 5], "label": ""}}
    verified = verify_result(signed.envelope.model_dump(mode="json"), identity, request=request)
    assert verified == {"total": 9, "label": "", "amk_opened": False}


@pytest.mark.parametrize(
    ("how", "error", "status", "enclave_code"),
    [
        pytest.param("key_unusable", EnclaveKeyUnusable, 409, "key_unusable", id="key-unusable"),
        pytest.param("decrypt", EnclaveCryptoFailed, 422, "crypto_error", id="crypto-failed"),
        pytest.param("boom", EnclaveRejected, 500, "internal", id="internal"),
    ],
)
async def test_error_responses_become_typed_errors(
    client: UnixEnclaveClient, how: str, error: type[EnclaveRejected], status: int, enclave_code: str
) -> None:
    with pytest.raises(error) as caught:
        await client.run(testops.FAIL, testops.FailArgs(how=how))
    assert caught.value.status == status
    assert caught.value.enclave_code == enclave_code


async def test_unknown_op_is_rejected(client: UnixEnclaveClient) -> None:
    # Declared on this side only: the enclave serves no such op.
    with pytest.raises(EnclaveRejected) as caught:
        await client.run(Op("no.such.op", NoArgs, PingResult), NoArgs())
    assert caught.value.enclave_code == "unknown_op"
    assert caught.value.code == "enclave_rejected"


async def test_result_that_does_not_match_the_model_is_rejected(client: UnixEnclaveClient) -> None:
    # A host whose declaration of ping differs from the enclave's: refused, never half-parsed.
    with pytest.raises(EnclaveRejected, match="does not match"):
        await client.run(Op("ping", NoArgs, testops.SumResult), NoArgs())


async def test_ops_are_called_through_declarations_with_their_own_args(client: UnixEnclaveClient) -> None:
    with pytest.raises(TypeError, match="declarations"):
        await client.run("ping", NoArgs())  # type: ignore[call-overload]  # the mistake under test
    # A subclass of the args model type-checks, but carries a field the enclave would refuse.
    with pytest.raises(TypeError, match="takes SumArgs, not _MoreArgs"):
        await client.run(testops.SUM, _MoreArgs(account_id="acc_1", numbers=[1], extra=2))
    assert (await client.run(PING, NoArgs())).protocol_version == 1


class _MoreArgs(testops.SumArgs):
    extra: int


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("shutting_down", EnclaveUnavailable),
        ("busy", EnclaveBusy),
        ("key_unusable", EnclaveKeyUnusable),
        ("crypto_error", EnclaveCryptoFailed),
        ("precondition_failed", EnclavePreconditionFailed),
        ("invalid_args", EnclaveRejected),
        ("some_future_code", EnclaveRejected),
    ],
)
def test_error_code_mapping(code: str, expected: type[Exception]) -> None:
    assert type(error_from_response(code, "detail")) is expected


async def test_enclave_down_is_unavailable(short_dir: Path) -> None:
    client = UnixEnclaveClient(short_dir / "absent.sock", timeout=1.0)
    with pytest.raises(EnclaveUnavailable, match="not running") as caught:
        await client.ping()
    assert caught.value.status == 503
    assert caught.value.code == "enclave_unavailable"
    await client.close()


async def test_timeout_is_unavailable_and_the_connection_survives(server: EnclaveServer) -> None:
    client = UnixEnclaveClient(server.path, timeout=0.2, pool_size=1)
    try:
        with pytest.raises(EnclaveUnavailable, match="did not answer"):
            await client.run(testops.SLEEP, testops.SleepArgs(seconds=0.6, tag="late"))
        assert (await client.ping()).tee == "none"
        await asyncio.sleep(0.6)  # the late response arrives and is dropped
        assert (await client.ping()).tee == "none"
    finally:
        await client.close()


async def test_requests_are_pipelined_on_one_connection(server: EnclaveServer) -> None:
    client = UnixEnclaveClient(server.path, timeout=5.0, pool_size=1)
    try:
        started = time.perf_counter()
        results = await asyncio.gather(
            *(client.run(testops.SLEEP, testops.SleepArgs(seconds=0.3, tag=str(i))) for i in range(20))
        )
        elapsed = time.perf_counter() - started
    finally:
        await client.close()
    assert [r.tag for r in results] == [str(i) for i in range(20)]
    assert elapsed < 2.0  # 20 x 0.3 s in sequence would be 6 s


async def test_client_reconnects_after_the_enclave_restarts(
    ctx: EnclaveContext, registry: OpRegistry, socket_path: Path
) -> None:
    first = EnclaveServer(ctx, registry, socket_path)
    await first.start()
    client = UnixEnclaveClient(socket_path, timeout=2.0, pool_size=2)
    try:
        await asyncio.gather(client.ping(), client.ping(), client.ping())  # fill the pool
        await first.stop()
        with pytest.raises(EnclaveUnavailable):
            await client.ping()
        second = EnclaveServer(ctx, registry, socket_path)
        await second.start()
        try:
            assert (await client.ping()).protocol_version == 1
            assert len(await asyncio.gather(*(client.ping() for _ in range(10)))) == 10
        finally:
            await second.stop()
    finally:
        await client.close()


async def test_stale_pooled_connection_is_retried_transparently(
    ctx: EnclaveContext, registry: OpRegistry, socket_path: Path
) -> None:
    first = EnclaveServer(ctx, registry, socket_path)
    await first.start()
    client = UnixEnclaveClient(socket_path, timeout=2.0, pool_size=1)
    try:
        await client.ping()
        await first.stop()
        second = EnclaveServer(ctx, registry, socket_path)
        await second.start()
        try:
            # No error surfaces: the dead pooled connection is replaced (or the call retried once).
            assert (await client.ping()).protocol_version == 1
        finally:
            await second.stop()
    finally:
        await client.close()


async def test_close_is_idempotent_and_final(client: UnixEnclaveClient) -> None:
    await client.ping()
    await client.close()
    await client.close()
    with pytest.raises(EnclaveUnavailable, match="closed"):
        await client.ping()


# --- against a FAKE enclave that misbehaves (what the client must survive, not what ours does) ---

Responder = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def fake_enclave(short_dir: Path) -> AsyncIterator[Callable[[Responder], Awaitable[Path]]]:
    servers: list[asyncio.Server] = []

    async def start(responder: Responder) -> Path:
        path = short_dir / f"fake{len(servers)}.sock"
        servers.append(await asyncio.start_unix_server(responder, path=str(path)))
        return path

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def _answer_with(writer: asyncio.StreamWriter, reader: asyncio.StreamReader, payload: bytes) -> None:
    await read_frame(reader)
    writer.write(payload)
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.close()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param(b"\x00\x00\x00\x03abc", "malformed response", id="not-json"),
        pytest.param(encode_frame({"v": 1, "id": 1, "ok": True}), "malformed response", id="no-result"),
        pytest.param(
            encode_frame({"v": 1, "id": None, "ok": False, "error": {"code": "bad_frame", "detail": "x"}}),
            "rejected a frame",
            id="hang-up-with-bad-frame",
        ),
    ],
)
async def test_misbehaving_enclave_gives_typed_errors(
    fake_enclave: Callable[[Responder], Awaitable[Path]], payload: bytes, message: str
) -> None:
    async def responder(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _answer_with(writer, reader, payload)

    client = UnixEnclaveClient(await fake_enclave(responder), timeout=2.0, pool_size=1)
    try:
        with pytest.raises(EnclaveRejected, match=message):
            await client.ping()
    finally:
        await client.close()


async def test_enclave_hanging_up_mid_request_is_unavailable(
    fake_enclave: Callable[[Responder], Awaitable[Path]],
) -> None:
    async def responder(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_frame(reader)
        writer.close()

    client = UnixEnclaveClient(await fake_enclave(responder), timeout=2.0, pool_size=1)
    try:
        with pytest.raises(EnclaveUnavailable, match="lost the connection"):
            await client.ping()
    finally:
        await client.close()

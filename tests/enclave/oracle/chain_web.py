"""The web the gateway oracle tests fetch from: one local HTTPS server reached as a public host.

The enclave's fetcher keeps its DEFAULT policy (private hosts refused, as in production): it resolves
:data:`HOST` to a public-looking address (``StaticResolver``) that a "NAT" dialler routes to the local
server (``NatDialler``), and trusts the test CA. So ``https://api.oracle.test:<port>/price`` is fetched,
while the same server named by ``127.0.0.1`` is ``Forbidden`` — the policy at work, not a test switch.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from neo_service_layer.enclave.attestation import build_report
from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.identity import Identity
from neo_service_layer.enclave.oracle.fetch import SafeFetcher
from neo_service_layer.enclave.oracle.policy import FetchPolicy
from neo_service_layer.enclave.sealing import Sealer
from neo_service_layer.enclave.tee.software import SoftwareBackend
from tests.enclave.oracle.servers import (
    PUBLIC_V4,
    LocalServer,
    NatDialler,
    OraclePKI,
    Request,
    Route,
    StaticResolver,
    respond,
)

HOST = "api.oracle.test"
PRICE = b'{"data": {"price": "43000.12", "volume": 12.5}, "ok": true}'
#: A filter of ``$.items`` gives over 1,024 bytes: delivered on chain as ResponseTooLarge.
BIG = b'{"items": [' + b",".join([b'"' + b"x" * 60 + b'"'] * 20) + b"]}"


def public_fetcher(pki: OraclePKI) -> SafeFetcher:
    """The default policy, reaching the local server only as :data:`HOST` (module docstring)."""
    resolver = StaticResolver({HOST: [[str(PUBLIC_V4)]]})
    return SafeFetcher(
        FetchPolicy(), resolver=resolver, ssl_context=pki.client_context(), dialler=NatDialler()
    )


def oracle_context(identity: Identity, measurement: str, fetcher: SafeFetcher) -> EnclaveContext:
    backend = SoftwareBackend()
    return EnclaveContext(
        identity=identity,
        sealer=Sealer(os.urandom(32)),
        backend=backend,
        report=build_report(identity, backend, measurement),
        fetcher=fetcher,
    )


@asynccontextmanager
async def web(pki: OraclePKI) -> AsyncIterator[LocalServer]:
    """The HTTPS server: ``/price`` (JSON), ``/big`` (over the on-chain cap when filtered), ``/tick``
    (``{"n": how many times it was fetched}``), anything else 404 (``LocalServer``'s default)."""

    async def fixed(body: bytes, writer: asyncio.StreamWriter) -> None:
        await respond(writer, 200, body)

    async def price(_request: Request, writer: asyncio.StreamWriter) -> None:
        await fixed(PRICE, writer)

    async def big(_request: Request, writer: asyncio.StreamWriter) -> None:
        await fixed(BIG, writer)

    async def tick(_request: Request, writer: asyncio.StreamWriter) -> None:
        # A value that changes with every fetch: the web is not deterministic.
        await fixed(b'{"n": %d}' % sum(r.path == "/tick" for r in server.requests), writer)

    directory = tempfile.mkdtemp(prefix="nsl-oracle-")
    routes: dict[str, Route] = {"/price": price, "/big": big, "/tick": tick}
    server = LocalServer(pki.server_context(directory), routes=routes)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def public_url(server: LocalServer, path: str) -> str:
    return server.url(path, host=HOST)
